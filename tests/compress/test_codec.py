"""The .nirz file: exact round trips for every quantiser and bit width, sizes on disk, and one clear error for
every kind of bad file (corrupt, truncated, absurd sizes, newer version), fuzzed."""
from __future__ import annotations

import json
import struct
import zlib

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from compress import codec
from compress.config import CompressConfig
from compress.dsconv import to_blocks
from compress.qat import attach
from compress.quantisers import BLOCK_QUANTISERS, QUANTISERS
from compress.workflow import compress_bundle, quantised_tensors
from nir_core.models.registry import build_model, from_bundle, to_bundle

TINY = {
    "encoder": {"channels": [8, 16], "blocks": [1, 1], "k": 8, "k_first": 4, "share_planes": 4, "out_features": 8},
    "udf": {"hidden": [16], "chunk_size": 1024, "pool": {"k": 4, "position_features": 8, "score_hidden": 8}},
    "semantic": {"hidden": [16], "chunk_size": 1024, "pool": {"k": 4, "position_features": 8, "score_hidden": 8}},
    "num_classes": 20,
}


@pytest.fixture(scope="module")
def bundle():
    torch.manual_seed(0)
    model = build_model("point_udf", TINY)
    return to_bundle(model, "point_udf", TINY, training={"steps": 1})


def quantise(bundle, quantiser, bits, **kw):
    model = from_bundle(bundle)
    layers = attach(model, quantiser, bits, **kw)
    return layers, quantised_tensors(model, layers)


@pytest.mark.parametrize("quantiser", list(QUANTISERS))
@pytest.mark.parametrize("bits", range(1, 9))
def test_round_trip_equals_the_fake_quantised_weights(bundle, tmp_path, quantiser, bits):
    layers, quantised = quantise(bundle, quantiser, bits)
    path = tmp_path / "m.nirz"
    size = codec.write(path, bundle, quantised, coder="best")
    assert size == path.stat().st_size
    _, state, back = codec.decode(path)
    for layer in layers.layers:  # the weights the QAT forward pass used are exactly the ones decoded
        name = f"{layer.name}.weight"
        with torch.no_grad():
            assert torch.equal(state[name], layer.quantised_weight()), name
        assert torch.equal(back[name].indices, quantised[name].indices)
        if quantiser in BLOCK_QUANTISERS:  # at most 2^bits values in each block of the input depth
            block = quantised[name].block
            blocks, real = to_blocks(state[name], block), to_blocks(torch.ones_like(state[name]), block) > 0
            assert max(len(torch.unique(row[keep])) for row, keep in zip(blocks, real)) <= 2 ** bits
        else:
            assert len(torch.unique(state[name])) <= 2 ** bits
    for name, tensor in bundle.state.items():  # everything else is stored exactly (float32)
        if name not in quantised:
            assert torch.equal(state[name], tensor.to(state[name].dtype)), name


@pytest.mark.parametrize("coder", ["bzip2", "lzma", "range"])
def test_every_coder_round_trips_and_float16_options(bundle, tmp_path, coder):
    _, quantised = quantise(bundle, "kmeans", 3, codebook_dtype="float16")
    path = tmp_path / f"{coder}.nirz"
    codec.write(path, bundle, quantised, coder=coder, raw_float="float16")
    header, state, _ = codec.decode(path)
    assert header["coder"] == coder
    for name, q in quantised.items():
        assert torch.equal(state[name], q.dequantised())
    bias = next(n for n in bundle.state if n.endswith("bias"))
    assert torch.equal(state[bias], bundle.state[bias].half().float())


def test_best_coder_is_the_smallest_and_the_model_loads(bundle, tmp_path):
    _, quantised = quantise(bundle, "minmax", 2)
    path = tmp_path / "best.nirz"
    codec.write(path, bundle, quantised)
    header, _ = codec.read_header(path)
    assert header["coded_sizes"][header["coder"]] == min(header["coded_sizes"].values())
    model = from_bundle(codec.read(path))
    points = torch.rand(1, 256, 3) - 0.5
    with torch.no_grad():
        assert torch.isfinite(model.encode(points).features).all()


def test_compress_bundle_reports_the_size_on_disk(bundle, tmp_path):
    folder = bundle.save(tmp_path / "bundle")
    report = compress_bundle(folder, tmp_path / "out.nirz", CompressConfig(quantiser="kmeans", bits=3))
    assert report["file_bytes"] == (tmp_path / "out.nirz").stat().st_size
    assert report["file_bytes"] < 0.25 * report["float32_bytes"]
    assert codec.read(tmp_path / "out.nirz").extra["nirz"]["file_bytes"] == report["file_bytes"]


@pytest.fixture(scope="module")
def good_file(bundle, tmp_path_factory):
    _, quantised = quantise(bundle, "kmeans", 3)
    path = tmp_path_factory.mktemp("nirz") / "good.nirz"
    codec.write(path, bundle, quantised, coder="range")
    return path.read_bytes()


def _file_with_header(tmp_path, good: bytes, change) -> bytes:
    _, version, n = struct.unpack_from("<4sHI", good)
    header = json.loads(zlib.decompress(good[10:10 + n]))
    change(header)
    head = zlib.compress(json.dumps(header).encode())
    return struct.pack("<4sHI", b"NIRZ", version, len(head)) + head + good[10 + n:]


@pytest.mark.parametrize("change,message", [
    (lambda h: h["tensors"][0].update(shape=[1 << 30, 1 << 30]), "more than"),
    (lambda h: h["tensors"][0].update(shape=[-1]), "bad name or shape"),
    (lambda h: h["tensors"].append({"name": "x", "shape": [4], "kind": "quantised", "bits": 12, "levels": 4,
                                    "quantiser": "kmeans", "codebook_dtype": "float32"}), "bits must be"),
    (lambda h: h.update(coder="zip"), "unknown coder"),
    (lambda h: h.update(body_bytes=10**12), "header says"),
    (lambda h: h["tensors"].pop(), "does not decode|trailing|corrupt|add up"),
])
def test_bad_headers_give_one_clear_error(good_file, tmp_path, change, message):
    path = tmp_path / "bad.nirz"
    path.write_bytes(_file_with_header(tmp_path, good_file, change))
    with pytest.raises(codec.NirzError, match=message):
        codec.decode(path)


def test_newer_version_truncated_and_wrong_files(good_file, tmp_path):
    path = tmp_path / "f.nirz"
    path.write_bytes(good_file[:4] + struct.pack("<H", codec.VERSION + 1) + good_file[6:])
    with pytest.raises(codec.NirzError, match="newer than this release"):
        codec.decode(path)
    path.write_bytes(good_file[: len(good_file) // 2])
    with pytest.raises(codec.NirzError, match="truncated"):
        codec.decode(path)
    path.write_bytes(b"PK\x03\x04 not a model")
    with pytest.raises(codec.NirzError, match="magic"):
        codec.decode(path)
    with pytest.raises(codec.NirzError, match="no such file"):
        codec.decode(tmp_path / "missing.nirz")
    huge = tmp_path / "huge.nirz"  # sparse: takes no disk space
    with open(huge, "wb") as f:
        f.truncate(codec.MAX_FILE_BYTES + 1)
    with pytest.raises(codec.NirzError, match="more than a model file may be"):
        codec.decode(huge)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
@pytest.mark.slow
def test_fuzzed_files_raise_nirz_error_only(good_file, tmp_path, data):
    blob = bytearray(good_file)
    for _ in range(data.draw(st.integers(1, 8))):
        at = data.draw(st.integers(0, len(blob) - 1))
        blob[at] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(blob)))
    path = tmp_path / "fuzz.nirz"
    path.write_bytes(bytes(blob[:cut]) if data.draw(st.booleans()) else bytes(blob))
    try:
        codec.decode(path)
    except codec.NirzError:
        pass


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(header=st.dictionaries(st.sampled_from(["format", "version", "coder", "body_bytes", "body_crc32", "bundle",
                                               "tensors"]),
                              st.one_of(st.integers(-2**40, 2**40), st.text(max_size=5), st.none(),
                                        st.lists(st.dictionaries(st.sampled_from(["name", "shape", "kind", "bits",
                                                                                  "levels", "dtype"]),
                                                                 st.one_of(st.integers(-5, 2**34), st.text(max_size=3),
                                                                           st.lists(st.integers(-2, 2**33),
                                                                                    max_size=4))),
                                                 max_size=3))))
@pytest.mark.slow
def test_fuzzed_headers_raise_nirz_error_only(tmp_path, header):
    head = zlib.compress(json.dumps({"format": "nirz", **header}).encode())
    path = tmp_path / "h.nirz"
    path.write_bytes(struct.pack("<4sHI", b"NIRZ", 1, len(head)) + head + b"\x00" * 16)
    with pytest.raises(codec.NirzError):
        codec.decode(path)


def test_activation_bits_travel_with_the_file(tmp_path):
    """A conv encoder compressed with --activation-bits computes quantised feature grids whenever it is loaded."""
    from compress.workflow import model_from_file
    from nir_core.models.ndf import NDFConfig, NDFModel

    torch.manual_seed(0)
    ndf = NDFModel(NDFConfig.cpu_small(resolution=16, channels=(8, 8)))
    folder = to_bundle(ndf, "ndf", ndf.config_json()).save(tmp_path / "ndf")
    path = tmp_path / "ndf.nirz"
    compress_bundle(folder, path, CompressConfig(quantiser="minmax", bits=4, activation_bits=2))
    model, _ = model_from_file(path)
    seen = []
    conv = next(m for m in model.modules() if isinstance(m, torch.nn.Conv3d))
    conv.register_forward_hook(lambda m, i, out: seen.append(out))
    with torch.no_grad():
        model.encode(torch.rand(1, 500, 3) - 0.5)
    assert len(torch.unique(seen[0])) <= 4
    plain = from_bundle(codec.read(path))  # the same weights without the recorded activation quantisation
    seen.clear()
    next(m for m in plain.modules() if isinstance(m, torch.nn.Conv3d)).register_forward_hook(
        lambda m, i, out: seen.append(out))
    with torch.no_grad():
        plain.encode(torch.rand(1, 500, 3) - 0.5)
    assert len(torch.unique(seen[0])) > 4


def test_block_floating_point_activations_travel_with_the_file(tmp_path):
    from compress.dsconv import block_floating_point
    from compress.workflow import model_from_file
    from nir_core.models.ndf import NDFConfig, NDFModel

    torch.manual_seed(0)
    ndf = NDFModel(NDFConfig.cpu_small(resolution=16, channels=(8, 8)))
    folder = to_bundle(ndf, "ndf", ndf.config_json()).save(tmp_path / "ndf")
    path = tmp_path / "ndf.nirz"
    compress_bundle(folder, path, CompressConfig(quantiser="dsconv", bits=4, activation_bits=3,
                                                 activation_format="bfp"))
    model, _ = model_from_file(path)
    convs = [m for m in model.modules() if isinstance(m, torch.nn.Conv3d)]
    seen = []
    convs[1].register_forward_pre_hook(lambda m, inputs: seen.append(inputs[0]))
    with torch.no_grad():
        model.encode(torch.rand(1, 500, 3) - 0.5)
    assert torch.equal(seen[0], block_floating_point(seen[0], 3))
    with pytest.raises(ValueError, match="unknown activation format"):
        CompressConfig(activation_bits=3, activation_format="fp8")
    with pytest.raises(ValueError, match="at least 2 bits"):
        CompressConfig(activation_bits=1, activation_format="bfp")
