"""Image quality: PSNR, SSIM and gradient PSNR (Gordon et al. Eq. 12), for rendered views and fitted images.

Images are (H, W, 3) or (N, H, W, 3) float tensors in [0, 1].
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor


def _batched(image: Tensor) -> Tensor:
    """(H, W, C) or (N, H, W, C) -> (N, C, H, W) float32."""
    image = torch.as_tensor(image, dtype=torch.float32)
    if image.ndim == 3:
        image = image[None]
    if image.ndim != 4:
        raise ValueError(f"images must be (H, W, C) or (N, H, W, C), got {tuple(image.shape)}")
    return image.permute(0, 3, 1, 2)


def mse_to_psnr(mse: float) -> float:
    """PSNR (dB) of images in [0, 1] from their mean squared error."""
    return float("inf") if mse <= 0 else -10.0 * math.log10(mse)


def psnr(pred: Tensor, target: Tensor) -> float:
    return mse_to_psnr(float(F.mse_loss(torch.as_tensor(pred, dtype=torch.float32),
                                        torch.as_tensor(target, dtype=torch.float32))))


def ssim(pred: Tensor, target: Tensor) -> float:
    """Mean SSIM (11x11 Gaussian window, σ 1.5, as pytorch-msssim; images smaller than the window use a window of
    their smaller side, odd)."""
    from pytorch_msssim import ssim as _ssim

    p, t = _batched(pred), _batched(target)
    side = min(p.shape[-2:])
    window = 11 if side >= 11 else max(1, side - (side + 1) % 2)
    return float(_ssim(p.clamp(0, 1), t.clamp(0, 1), data_range=1.0, size_average=True, win_size=window))


SOBEL_X = torch.tensor([[1.0, 0.0, -1.0], [2.0, 0.0, -2.0], [1.0, 0.0, -1.0]]) / 8.0
"""The Sobel operator (normalised so a unit step gives a unit gradient)."""


def sobel(image: Tensor) -> Tensor:
    """(N, C, H, W) -> (N, 2C, H-2, W-2): the x and y Sobel derivatives of each channel (valid pixels only)."""
    c = image.shape[1]
    kernels = torch.stack([SOBEL_X, SOBEL_X.T])[:, None].repeat(c, 1, 1, 1).to(image)
    return F.conv2d(image, kernels, groups=c)


def gradient_psnr(pred: Tensor, target: Tensor) -> float:
    """Gordon et al. Eq. 12: how well the image gradients are kept, -log10 of the mean squared difference of the
    Sobel gradients, reported in dB (x 10) like PSNR."""
    return mse_to_psnr(float(F.mse_loss(sobel(_batched(pred)), sobel(_batched(target)))))


def image_metrics(pred: Tensor, target: Tensor) -> dict[str, float]:
    """PSNR, SSIM and gradient PSNR of one image or a batch."""
    return {"psnr": psnr(pred, target), "ssim": ssim(pred, target), "gradient_psnr": gradient_psnr(pred, target)}
