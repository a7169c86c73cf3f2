"""The nir-kmeans-nerf model: nerfstudio's sampling, compositing and training loop around NIR Studio's NeRF MLP
(:class:`nir_core.nerf.model.NeRF`), whose layers are fake-quantised from the first step by NIR Studio's quantisers
(:func:`compress.qat.attach`, codebooks refitted every ``repartition_every`` steps: Gordon et al. Algorithm 1).

The network's configuration travels in the checkpoint (the field's extra state), so ``nir-ns-export`` rebuilds it
from the checkpoint alone. ``field_implementation="nerfstudio"`` swaps in nerfstudio's own ``NeRFField`` of the same
size, unquantised: the reference the throughput benchmark compares with.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import torch
from nerfstudio.cameras.rays import RayBundle
from nerfstudio.configs.config_utils import to_immutable_dict
from nerfstudio.engine.callbacks import TrainingCallback, TrainingCallbackAttributes, TrainingCallbackLocation
from nerfstudio.field_components.encodings import NeRFEncoding
from nerfstudio.field_components.field_heads import FieldHeadNames
from nerfstudio.fields.vanilla_nerf_field import NeRFField
from nerfstudio.model_components.losses import MSELoss
from nerfstudio.model_components.ray_samplers import UniformSampler
from nerfstudio.model_components.renderers import AccumulationRenderer, DepthRenderer, RGBRenderer
from nerfstudio.models.base_model import Model, ModelConfig
from nerfstudio.utils import colors
from torch import nn
from torch.nn import Parameter
from torchmetrics.functional import peak_signal_noise_ratio, structural_similarity_index_measure

from nir_core.nerf.model import NeRF, NeRFConfig


@dataclass
class NirNeRFModelConfig(ModelConfig):
    """nir-kmeans-nerf: a small NeRF (Gordon et al.: 4 x 64, ReLU, positional encoding, one pass of stratified
    samples, no hierarchical sampling), quantisation-aware from the first step."""

    _target: type = field(default_factory=lambda: NirNeRFModel)
    num_samples: int = 64
    """Stratified samples per ray."""
    depth: int = 4
    """Layers of the trunk."""
    width: int = 64
    """Units per trunk layer."""
    position_frequencies: int = 10
    """Octaves of the positional encoding of x."""
    direction_frequencies: int = 4
    """Octaves of the positional encoding of the view direction."""
    feature_layer: bool = False
    """The original NeRF's linear layer between the trunk and the colour head; off (the default), the network is
    nerfstudio's ``NeRFField`` layer for layer."""
    quantiser: str | None = "kmeans"
    """NIR Studio quantiser (kmeans, minmax, distributional, explicit); None trains in float."""
    bits: int = 3
    """Bits per weight."""
    repartition_every: int = 100
    """Refit the codebooks every this many steps."""
    field_implementation: Literal["nir", "nerfstudio"] = "nir"
    """``nir``: NIR Studio's MLP (quantisable, exportable); ``nerfstudio``: nerfstudio's NeRFField of the same size,
    in float (the throughput reference)."""
    loss_coefficients: dict[str, float] = to_immutable_dict({"rgb_loss": 1.0})
    """Weight of the colour loss."""


class NirField(nn.Module):
    """NIR Studio's NeRF plus what exporting it needs (its config and quantisation), kept as extra state."""

    def __init__(self, cfg: NirNeRFModelConfig):
        super().__init__()
        self.model_config = NeRFConfig(depth=cfg.depth, width=cfg.width, position_frequencies=cfg.position_frequencies,
                                       direction_frequencies=cfg.direction_frequencies,
                                       feature_layer=cfg.feature_layer)
        self.nerf = NeRF(self.model_config)
        self.spec = {"model_config": self.model_config.to_json(), "quantiser": cfg.quantiser, "bits": cfg.bits,
                     "repartition_every": cfg.repartition_every, "samples": cfg.num_samples,
                     "near": float(cfg.collider_params["near_plane"]), "far": float(cfg.collider_params["far_plane"])}

    def get_extra_state(self) -> dict:
        return self.spec

    def set_extra_state(self, state: dict) -> None:
        self.spec = dict(state)


class NirNeRFModel(Model):
    """nerfstudio model around :class:`NirField` (or nerfstudio's field, see the config)."""

    config: NirNeRFModelConfig

    def populate_modules(self):
        super().populate_modules()
        cfg = self.config
        self.layers = None
        if cfg.field_implementation == "nir":
            self.field = NirField(cfg)
            if cfg.quantiser:
                from compress.qat import attach

                self.layers = attach(self.field.nerf, cfg.quantiser, cfg.bits)
        else:
            self.field = NeRFField(
                position_encoding=NeRFEncoding(in_dim=3, num_frequencies=cfg.position_frequencies, min_freq_exp=0.0,
                                               max_freq_exp=cfg.position_frequencies - 1.0, include_input=True),
                direction_encoding=NeRFEncoding(in_dim=3, num_frequencies=cfg.direction_frequencies, min_freq_exp=0.0,
                                                max_freq_exp=cfg.direction_frequencies - 1.0, include_input=True),
                base_mlp_num_layers=cfg.depth, base_mlp_layer_width=cfg.width, head_mlp_num_layers=1,
                head_mlp_layer_width=cfg.width // 2, skip_connections=())
        self.sampler = UniformSampler(num_samples=cfg.num_samples)
        self.renderer_rgb = RGBRenderer(background_color=colors.WHITE)
        self.renderer_accumulation = AccumulationRenderer()
        self.renderer_depth = DepthRenderer()
        self.rgb_loss = MSELoss()

    def get_param_groups(self) -> dict[str, list[Parameter]]:
        return {"fields": list(self.field.parameters())}

    def get_training_callbacks(self, training_callback_attributes: TrainingCallbackAttributes) -> list[TrainingCallback]:
        if self.layers is None:
            return []
        return [TrainingCallback([TrainingCallbackLocation.AFTER_TRAIN_ITERATION], self._repartition,
                                 update_every_num_iters=self.config.repartition_every)]

    def _repartition(self, step: int) -> None:
        self.layers.repartition()

    def get_outputs(self, ray_bundle: RayBundle):
        samples = self.sampler(ray_bundle)
        if self.config.field_implementation == "nir":
            positions = samples.frustums.get_positions()
            rgb, sigma = self.field.nerf(positions, samples.frustums.directions[:, 0])  # one direction per ray
            density = sigma[..., None]
        else:
            outputs = self.field(samples)
            rgb, density = outputs[FieldHeadNames.RGB], outputs[FieldHeadNames.DENSITY]
        weights = samples.get_weights(density)
        return {"rgb": self.renderer_rgb(rgb=rgb, weights=weights), "accumulation": self.renderer_accumulation(weights),
                "depth": self.renderer_depth(weights, samples)}

    def get_metrics_dict(self, outputs, batch) -> dict[str, torch.Tensor]:
        image = batch["image"][..., :3].to(outputs["rgb"].device)
        return {"psnr": peak_signal_noise_ratio(outputs["rgb"].detach(), image, data_range=1.0)}

    def get_loss_dict(self, outputs, batch, metrics_dict=None) -> dict[str, torch.Tensor]:
        image = batch["image"][..., :3].to(outputs["rgb"].device)
        return {"rgb_loss": self.config.loss_coefficients["rgb_loss"] * self.rgb_loss(image, outputs["rgb"])}

    def get_image_metrics_and_images(self, outputs, batch):
        # PSNR and SSIM only: LPIPS would download backbone weights, which a machine without network cannot.
        image = batch["image"][..., :3].to(outputs["rgb"].device)
        rgb = outputs["rgb"].clamp(0, 1)
        a, b = torch.moveaxis(image, -1, 0)[None], torch.moveaxis(rgb, -1, 0)[None]
        metrics = {"psnr": float(peak_signal_noise_ratio(b, a, data_range=1.0)),
                   "ssim": float(structural_similarity_index_measure(b, a, data_range=1.0))}
        return metrics, {"img": torch.cat([image, rgb], dim=1)}
