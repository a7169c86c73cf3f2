"""Images as networks: fitting a real photo crop, the quantised file, decoding, the CLI and its errors."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import shared_file

from compress.config import CompressConfig
from compress.image import decode_file, fit_to_file, read_image
from nir_core.errors import NIRStudioError
from nir_core.inr.image import ImageFitConfig, ImageINR, ImageINRConfig, pixel_coordinates

KODAK = ("kodak_01_12", "kodim01.png")


def test_pixel_coordinates_are_centres_in_minus_one_to_one():
    c = pixel_coordinates(2, 4)
    assert c.shape == (8, 2) and torch.allclose(c[0], torch.tensor([-0.75, -0.5])) and torch.allclose(c[-1], torch.tensor([0.75, 0.5]))


def test_read_image_crops_and_refuses_crops_outside():
    path = shared_file(*KODAK)
    whole = read_image(path)
    assert whole.shape == (512, 768, 3) and whole.max() <= 1
    assert np.array_equal(read_image(path, (32, 32, 10, 20)), whole[20:52, 10:42])
    assert read_image(path, (32, 32)).shape == (32, 32, 3)
    with pytest.raises(NIRStudioError, match="does not fit"):
        read_image(path, (800, 32))


@pytest.mark.slow
def test_a_fitted_crop_is_close_and_its_quantised_file_decodes_to_what_it_holds(tmp_path):
    image = read_image(shared_file(*KODAK), (32, 32))
    cfg = ImageFitConfig(model=ImageINRConfig(hidden_layers=2, width=32), steps=300, lr=1e-3)
    float_report = fit_to_file(image, tmp_path / "f.nirz", cfg, progress=False)
    assert float_report["psnr"] > 20
    report = fit_to_file(image, tmp_path / "q.nirz", cfg, CompressConfig(quantiser="kmeans", bits=5), progress=False)
    assert report["file_bytes"] < float_report["file_bytes"] and report["body_bpp"] < report["bpp"]
    decoded = decode_file(tmp_path / "q.nirz")
    assert decoded.shape == (32, 32, 3)
    psnr = -10 * np.log10(np.mean((decoded - image) ** 2))
    assert psnr == pytest.approx(report["psnr"], abs=0.05)
    assert report["psnr"] > 15


def test_relu_networks_and_bad_settings():
    out = ImageINR(ImageINRConfig(activation="relu", frequencies=4))(torch.rand(5, 2))
    assert out.shape == (5, 3)
    with pytest.raises(ValueError, match="unknown activation"):
        ImageINRConfig(activation="gelu")
    with pytest.raises(ValueError, match="unknown loss"):
        ImageFitConfig(loss="l1")


@pytest.mark.slow
def test_cli_fits_and_decodes(tmp_path, capsys):
    from app.cli import main

    out = tmp_path / "k.nirz"
    with pytest.raises(SystemExit) as code:
        main(["image", "fit", str(shared_file(*KODAK)), "-o", str(out), "--crop", "16,16", "--steps", "20",
              "--quantiser", "kmeans", "--bits", "4"])
    assert code.value.code == 0 and "bpp" in capsys.readouterr().out and out.with_suffix(".png").exists()
    with pytest.raises(SystemExit) as code:
        main(["image", "decode", str(out), "-o", str(tmp_path / "d.png")])
    assert code.value.code == 0 and (tmp_path / "d.png").exists()
    half = tmp_path / "half.nirz"
    with pytest.raises(SystemExit) as code:
        main(["image", "fit", str(shared_file(*KODAK)), "-o", str(half), "--crop", "16,16", "--steps", "20",
              "--quantiser", "kmeans", "--bits", "4", "--float16"])
    assert code.value.code == 0 and half.stat().st_size < out.stat().st_size  # half-precision codebooks and biases
    with pytest.raises(SystemExit) as code:
        main(["image", "fit", str(tmp_path / "missing.png"), "-o", str(out)])
    assert code.value.code == 2 and "no such image" in capsys.readouterr().err
    with pytest.raises(SystemExit) as code:
        main(["image", "decode", str(tmp_path / "d.png")])
    assert code.value.code == 2
