"""Quantisers: the paper's formulas, codebook sizes, nearest-entry assignment, K-means against the optimum."""
from __future__ import annotations

import kmeans1d
import numpy as np
import pytest
import torch

from compress.quantisers import BLOCK_QUANTISERS, QUANTISERS, KMeans, make_quantiser, quantisation_error


def weights(n=4000, seed=0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, generator=g) * 0.1 + 0.02 * torch.randn(n, generator=g) ** 3


@pytest.mark.parametrize("name", [n for n in QUANTISERS if n not in BLOCK_QUANTISERS])
@pytest.mark.parametrize("bits", range(1, 9))
def test_codebook_size_and_nearest_assignment(name, bits):
    q = make_quantiser(name, bits)
    w = weights()
    codebook = q.fit(w)
    assert 1 <= codebook.numel() <= 2 ** bits and torch.all(codebook[1:] > codebook[:-1])
    idx = q.encode(w, codebook)
    wq = q.quantize(w, codebook)
    assert torch.equal(wq, codebook[idx])
    # every weight sits on its nearest entry
    dist = (w[:, None] - codebook[None, :]).abs()
    assert torch.all(dist.gather(1, idx[:, None])[:, 0] <= dist.min(dim=1).values + 1e-7)


def test_explicit_is_rastegari_formula():
    q = make_quantiser("explicit", 3)
    x = torch.linspace(-1, 1, 1001)
    k = 3
    formula = 2 * (torch.round((2 ** k - 1) * (x + 1) / 2) / (2 ** k - 1) - 0.5)
    assert torch.allclose(q.quantize(x, q.fit(x)), formula, atol=1e-6)
    # data-agnostic: the range stays [-1, 1] whatever the weights, and outside values clip to the ends
    assert torch.equal(q.fit(torch.full((5,), 7.0)), q.fit(x))
    assert q.quantize(torch.tensor([3.0, -3.0]), q.fit(x)).tolist() == [1.0, -1.0]


def test_distributional_range_follows_eq_11():
    w = torch.randn(200_000, generator=torch.Generator().manual_seed(1))
    for bits in (1, 4, 8):
        codebook = make_quantiser("distributional", bits).fit(w)
        d = 3 + 3 * (bits - 1) / 15
        lo = max(float(w.mean() - d * w.std(unbiased=False)), float(w.min()))
        assert float(codebook[0]) == pytest.approx(lo, rel=1e-5)
    assert make_quantiser("minmax", 4).fit(w)[0] == w.min()


def test_constant_tensor_is_exact():
    w = torch.full((10,), 0.25)
    for name in ("minmax", "distributional", "kmeans"):
        q = make_quantiser(name, 2)
        assert torch.equal(q.quantize(w, q.fit(w)), w)


def test_float16_codebooks_are_representable():
    q = make_quantiser("kmeans", 4, codebook_dtype="float16")
    codebook = q.fit(weights())
    assert torch.equal(codebook.half().float(), codebook)


def test_kmeans_beats_uniform_at_low_bits():
    w = weights(20_000)
    for bits in (2, 3):
        errs = {name: quantisation_error(w, q := make_quantiser(name, bits), q.fit(w)) for name in QUANTISERS}
        assert errs["kmeans"] < min(errs[n] for n in ("minmax", "distributional", "explicit"))


@pytest.mark.parametrize("bits", [1, 2, 3, 4])
def test_fast_kmeans_is_close_to_the_optimum(bits):
    w = weights(20_000, seed=3)
    fast, exact = KMeans(bits), KMeans(bits, exact=True)
    optimum = np.sort(kmeans1d.cluster(w.double().numpy(), 2 ** bits).centroids)
    assert np.allclose(exact.fit(w).numpy(), optimum, atol=1e-6)
    ratio = quantisation_error(w, fast, fast.fit(w)) / quantisation_error(w, exact, exact.fit(w))
    assert 1 - 1e-6 <= ratio <= 1.01


def test_bad_arguments():
    with pytest.raises(ValueError, match="bits must be 1..8"):
        make_quantiser("kmeans", 9)
    with pytest.raises(ValueError, match="unknown quantiser"):
        make_quantiser("log", 3)
    with pytest.raises(ValueError, match="codebook_dtype"):
        make_quantiser("minmax", 3, codebook_dtype="int8")
