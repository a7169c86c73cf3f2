"""Query decoders on per-point encodings: shapes, symmetries, chunking, constructed attention, losses, a tiny fit."""
from __future__ import annotations

import json
import math

import pytest
import torch
from torch import nn

from nir_core.models.decoders import (
    AttentionPoolConfig,
    ClassifierHead,
    ClassifierHeadConfig,
    KNNAttentionPool,
    RelativePositionEncoding,
    SemanticDecoder,
    SemanticDecoderConfig,
    UDFDecoder,
    UDFDecoderConfig,
    clamped_l1,
    decode_in_chunks,
    task_log_vars,
    uncertainty_weighted_loss,
)

OPTIONS = [(a, p) for a in ("scalar", "vector") for p in ("raw", "sinusoidal")]


def scene(b: int = 2, n: int = 200, m: int = 150, c: int = 8, seed: int = 0):
    """(b, m, 3) queries, (b, n, 3) encoder points in the unit cube and (b, n, c) features."""
    g = torch.Generator().manual_seed(seed)
    return (torch.rand(b, m, 3, generator=g) - 0.5, torch.rand(b, n, 3, generator=g) - 0.5,
            torch.randn(b, n, c, generator=g))


def pool_cfg(attention: str, encoding: str, **kw) -> AttentionPoolConfig:
    return AttentionPoolConfig(attention=attention, position_encoding=encoding, n_freqs=4, **kw)


def fibonacci_sphere(n: int, radius: float) -> torch.Tensor:
    """(n, 3) nearly uniform points on a sphere centred at the origin."""
    i = torch.arange(n, dtype=torch.float64) + 0.5
    polar = torch.acos(1 - 2 * i / n)
    azimuth = math.pi * (1 + 5 ** 0.5) * i
    return (radius * torch.stack([torch.cos(azimuth) * torch.sin(polar), torch.sin(azimuth) * torch.sin(polar),
                                  torch.cos(polar)], dim=-1)).float()


# ------------------------------------------------------------------------------------------------- shapes


@pytest.mark.parametrize("attention,encoding", OPTIONS)
def test_shapes_for_every_option(attention, encoding):
    torch.manual_seed(0)
    q, p, f = scene(c=8)
    cfg = pool_cfg(attention, encoding, position_features=5)
    pool = KNNAttentionPool(8, cfg)
    assert pool(q, p, f).shape == (2, 150, 8 + 5)
    assert pool.encoding.out_features == (4 if encoding == "raw" else 4 + 6 * 4)
    udf = UDFDecoder(UDFDecoderConfig(in_features=8, pool=cfg))
    assert udf(q, p, f).shape == (2, 150)
    sem = SemanticDecoder(SemanticDecoderConfig(in_features=8, pool=cfg, num_classes=7))
    assert sem(q, p, f).shape == (2, 150, 7)


def test_no_score_hidden_layer_and_no_query_input():
    q, p, f = scene(c=8)
    cfg = UDFDecoderConfig(in_features=8, append_query=False, pool=AttentionPoolConfig(score_hidden=0))
    dec = UDFDecoder(cfg)
    assert isinstance(dec.pool.score, nn.Linear)
    assert dec(q, p, f).shape == (2, 150)


def test_k_larger_than_the_encoder_points_is_clamped():
    q, p, f = scene(n=3, c=8)
    dec = UDFDecoder(UDFDecoderConfig(in_features=8, pool=AttentionPoolConfig(k=8)))
    assert dec.pool.neighbours(q, p).shape == (2, 150, 3)
    assert dec(q, p, f).shape == (2, 150)


def test_empty_queries():
    _, p, f = scene(c=8)
    dec = UDFDecoder(UDFDecoderConfig(in_features=8, chunk_size=16))
    assert dec(torch.zeros(2, 0, 3), p, f).shape == (2, 0)


def test_sinusoidal_encoding_layout():
    enc = RelativePositionEncoding("sinusoidal", n_freqs=2)
    rel = torch.tensor([[0.1, -0.2, 0.3]])
    out = enc(rel, rel.norm(dim=-1, keepdim=True))
    angles = torch.tensor([0.1, -0.2, 0.3, 0.2, -0.4, 0.6]) * math.pi  # axis-minor, octave-major
    expected = torch.cat([rel[0], rel.norm().view(1), torch.sin(angles), torch.cos(angles)])
    torch.testing.assert_close(out[0], expected)


# ---------------------------------------------------------------------------------------------- symmetries


@pytest.mark.parametrize("attention,encoding", OPTIONS)
def test_invariant_to_the_order_of_encoder_points(attention, encoding):
    torch.manual_seed(0)
    q, p, f = scene(c=8)
    cfg = pool_cfg(attention, encoding)
    udf = UDFDecoder(UDFDecoderConfig(in_features=8, pool=cfg)).eval()
    sem = SemanticDecoder(SemanticDecoderConfig(in_features=8, pool=cfg)).eval()
    perm = torch.randperm(p.shape[1], generator=torch.Generator().manual_seed(1))
    torch.testing.assert_close(udf(q, p[:, perm], f[:, perm]), udf(q, p, f))
    torch.testing.assert_close(sem(q, p[:, perm], f[:, perm]), sem(q, p, f))


@pytest.mark.parametrize("attention,encoding", OPTIONS)
def test_peaked_attention_on_an_encoder_point_returns_its_feature(attention, encoding):
    """Weights built so that score_k = -1e4 |q - p_k|: a query on encoder point j pools exactly E_g[j]."""
    q, p, f = scene(n=100, c=8)
    cfg = pool_cfg(attention, encoding, position_features=6, score_hidden=5)
    pool = KNNAttentionPool(8, cfg)
    with torch.no_grad():
        for layer in (pool.position[0], pool.score[0], pool.score[2]):
            layer.weight.zero_()
            if layer.bias is not None:
                layer.bias.zero_()
        pool.position[0].weight[0, 3] = 1.0  # r_k[0] = relu(distance): channel 3 of either encoding
        pool.score[0].weight[0, 8] = 1.0  # hidden 0 = r_k[0] (token = 8 feature channels, then r_k)
        pool.score[2].weight[:, 0] = -1e4  # every score (1, or one per channel) = -1e4 distance
    on = torch.tensor([3, 41, 77])
    query = p[:, on]
    # The nearest other points are >= 1e-2 away in a 100-point cloud, so their weights are <= exp(-100).
    assert torch.cdist(query, p).topk(2, largest=False).values[..., 1].min() > 1e-2
    pooled = pool(query, p, f)
    torch.testing.assert_close(pooled[..., :8], f[:, on])
    torch.testing.assert_close(pooled[..., 8], torch.zeros(2, 3))  # the pooled distance channel


def test_gradients_reach_the_query_also_on_an_encoder_point():
    q, p, f = scene(c=8)
    q = torch.cat([q, p[:, :5]], dim=1).requires_grad_(True)  # the last 5 queries sit on encoder points
    dec = UDFDecoder(UDFDecoderConfig(in_features=8))
    (grad,) = torch.autograd.grad(dec(q, p, f).sum(), q)
    assert torch.isfinite(grad).all()
    assert grad.abs().sum() > 0


# ------------------------------------------------------------------------------------------------- chunking


@pytest.mark.parametrize("attention,encoding", OPTIONS)
def test_chunked_decoding_equals_unchunked(attention, encoding):
    torch.manual_seed(0)
    q, p, f = scene(m=301, c=8)
    cfg = pool_cfg(attention, encoding)
    udf = UDFDecoder(UDFDecoderConfig(in_features=8, pool=cfg, chunk_size=1 << 20))
    sem = SemanticDecoder(SemanticDecoderConfig(in_features=8, pool=cfg, dropout=0.5)).eval()
    whole = udf(q, p, f)
    for chunk in (5, 64, 300):
        torch.testing.assert_close(udf(q, p, f, chunk_size=chunk), whole)
    torch.testing.assert_close(sem(q, p, f, chunk_size=13), sem(q, p, f, chunk_size=1000))
    # Neighbours searched once and shared give the same result.
    idx = udf.pool.neighbours(q, p)
    torch.testing.assert_close(udf(q, p, f, idx=idx, chunk_size=13), whole)


def test_neighbours_are_searched_per_block_of_queries():
    """Neighbours are searched once per block (not per decoding chunk); the result does not change."""
    q, p, f = scene(m=301, c=8)
    pool = KNNAttentionPool(8)
    table = pool.prepare(p, f)
    searched = []

    def search(qq):
        searched.append(qq.shape[1])
        return pool.neighbours(qq, p)

    out = decode_in_chunks(lambda qq, ii: pool.pool(qq, table, ii), q, None, search, chunk_size=20, search_block=50)
    assert searched == [50] * 6 + [1]
    torch.testing.assert_close(out, pool(q, p, f))


# ------------------------------------------------------------------------------------------------- outputs


@pytest.mark.parametrize("activation", ["abs", "softplus", "relu"])
def test_udf_is_non_negative(activation):
    torch.manual_seed(0)
    q, p, f = scene(m=500, c=8)
    dec = UDFDecoder(UDFDecoderConfig(in_features=8, activation=activation))
    with torch.no_grad():
        dec.head[-1].bias.fill_(-5.0)  # push the pre-activation well below 0
    out = dec(q * 3, p, f)  # queries far outside the cube too
    assert (out >= 0).all()
    if activation == "relu":
        assert (out == 0).any()


def test_semantic_decoder_takes_context_channels():
    torch.manual_seed(0)
    q, p, f = scene(c=8)
    ctx = torch.randn(2, 200, 4)
    dec = SemanticDecoder(SemanticDecoderConfig(in_features=8, context_features=4, num_classes=5))
    assert dec.pool.in_features == 12
    out = dec(q, p, f, ctx)
    assert out.shape == (2, 150, 5)
    torch.testing.assert_close(dec(q, p, torch.cat([f, ctx], dim=-1)), out)  # appended by the caller
    # The context matters: the semantic decoder sees it.
    assert not torch.allclose(dec(q, p, f, ctx + 1.0), out)
    with pytest.raises(ValueError, match="context"):
        dec(q, p, f)
    with pytest.raises(ValueError, match="context"):
        dec(q, p, f, ctx[..., :3])


def test_bad_inputs_raise():
    q, p, f = scene(c=8)
    dec = UDFDecoder(UDFDecoderConfig(in_features=8))
    with pytest.raises(ValueError, match="feature channels"):
        dec(q, p, f[..., :5])
    with pytest.raises(ValueError, match="query"):
        dec(q[..., :2], p, f)
    with pytest.raises(ValueError, match="features"):
        dec(q, p, f[:, :10])


def test_classifier_head():
    torch.manual_seed(0)
    head = ClassifierHead(ClassifierHeadConfig(in_features=16, hidden=(8,), num_classes=3))
    x = torch.randn(4, 16, requires_grad=True)
    logits = head(x)
    assert logits.shape == (4, 3)
    logits.sum().backward()
    assert x.grad is not None and all(p.grad is not None for p in head.parameters())
    head.eval()
    torch.testing.assert_close(head(x), head(x))  # dropout off in eval
    with pytest.raises(ValueError, match="global features"):
        head(torch.randn(4, 8))


# ---------------------------------------------------------------------------------------------- configs


def test_configs_round_trip_through_json():
    cfgs = [
        AttentionPoolConfig(k=6, attention="vector", position_encoding="sinusoidal", n_freqs=3),
        UDFDecoderConfig(in_features=64, hidden=(32, 16), activation="relu",
                         pool=AttentionPoolConfig(attention="vector")),
        SemanticDecoderConfig(in_features=64, context_features=4, num_classes=13, dropout=0.5),
        ClassifierHeadConfig(in_features=32, hidden=(16,), num_classes=10),
    ]
    for cfg in cfgs:
        assert type(cfg).from_json(json.loads(json.dumps(cfg.to_json()))) == cfg


def test_bad_configs_raise():
    with pytest.raises(ValueError, match="attention"):
        AttentionPoolConfig(attention="cosine")
    with pytest.raises(ValueError, match="position_encoding"):
        AttentionPoolConfig(position_encoding="learned")
    with pytest.raises(ValueError, match="activation"):
        UDFDecoderConfig(activation="tanh")
    with pytest.raises(ValueError, match="unknown"):
        UDFDecoderConfig.from_json({"in_feature": 3})
    with pytest.raises(ValueError, match="unknown"):
        UDFDecoderConfig.from_json({"pool": {"kk": 3}})


# ------------------------------------------------------------------------------------------------- losses


def test_clamped_l1_by_hand():
    pred = torch.tensor([0.05, 0.30, 0.00, 0.20, 0.08])
    target = torch.tensor([0.02, 0.05, 0.15, 0.40, 0.08])
    # |min(p, .1) - min(t, .1)|: .03, .05, .10, 0, 0
    expected = torch.tensor([0.03, 0.05, 0.10, 0.0, 0.0])
    torch.testing.assert_close(clamped_l1(pred, target, reduction="none"), expected)
    torch.testing.assert_close(clamped_l1(pred, target), expected.mean())
    torch.testing.assert_close(clamped_l1(pred, target, reduction="sum"), expected.sum())
    torch.testing.assert_close(clamped_l1(pred, target, clamp=1.0), torch.tensor([0.03, 0.25, 0.15, 0.2, 0]).mean())
    # Beyond the clamp on both sides there is no gradient.
    p = pred.clone().requires_grad_(True)
    clamped_l1(p, target, reduction="sum").backward()
    torch.testing.assert_close(p.grad, torch.tensor([1.0, 0.0, -1.0, 0.0, 0.0]))


def test_uncertainty_weighted_loss_by_hand_and_its_gradients():
    log_vars = task_log_vars(["udf", "semantic"])
    with torch.no_grad():
        log_vars["udf"].fill_(0.5)
        log_vars["semantic"].fill_(-1.0)
    losses = {"udf": torch.tensor(0.2), "semantic": torch.tensor(1.5)}
    total = uncertainty_weighted_loss(losses, log_vars)
    expected = math.exp(-0.5) * 0.2 + 0.5 + math.exp(1.0) * 1.5 - 1.0
    assert total.item() == pytest.approx(expected, rel=1e-6)
    total.backward()
    # dL/ds = 1 - exp(-s) L_i
    assert log_vars["udf"].grad.item() == pytest.approx(1 - math.exp(-0.5) * 0.2, rel=1e-6)
    assert log_vars["semantic"].grad.item() == pytest.approx(1 - math.exp(1.0) * 1.5, rel=1e-6)
    # Kendall et al.'s Gaussian form for the regression task: (exp(-s) L + s) / 2.
    halved = uncertainty_weighted_loss(losses, log_vars, half={"udf"})
    assert halved.item() == pytest.approx(0.5 * (math.exp(-0.5) * 0.2 + 0.5) + math.exp(1.0) * 1.5 - 1.0, rel=1e-6)


def test_uncertainty_weights_settle_at_the_inverse_loss():
    """Minimising over s alone gives s = log L: the learned weight of a task is 1 / L."""
    log_vars = task_log_vars(["a", "b"])
    losses = {"a": torch.tensor(0.05), "b": torch.tensor(2.0)}
    opt = torch.optim.Adam(log_vars.parameters(), lr=0.05)
    for _ in range(600):
        opt.zero_grad()
        uncertainty_weighted_loss(losses, log_vars).backward()
        opt.step()
    assert log_vars["a"].item() == pytest.approx(math.log(0.05), abs=1e-2)
    assert log_vars["b"].item() == pytest.approx(math.log(2.0), abs=1e-2)


def test_joint_loss_gradients_reach_decoders_and_log_vars():
    torch.manual_seed(0)
    q, p, f = scene(c=8)
    udf = UDFDecoder(UDFDecoderConfig(in_features=8))
    sem = SemanticDecoder(SemanticDecoderConfig(in_features=8, num_classes=3))
    log_vars = task_log_vars(["udf", "semantic"])
    labels = torch.randint(3, (2, 150))
    idx = udf.pool.neighbours(q, p)
    losses = {"udf": clamped_l1(udf(q, p, f, idx=idx), torch.rand(2, 150) * 0.1),
              "semantic": nn.functional.cross_entropy(sem(q, p, f, idx=idx).flatten(0, 1), labels.flatten())}
    uncertainty_weighted_loss(losses, log_vars).backward()
    for s in log_vars.values():
        assert s.grad is not None and s.grad.abs() > 0
    assert all(t.grad is not None for t in [*udf.parameters(), *sem.parameters()])


def test_uncertainty_weighted_loss_errors():
    log_vars = task_log_vars(["udf"])
    with pytest.raises(KeyError, match="semantic"):
        uncertainty_weighted_loss({"udf": torch.tensor(1.0), "semantic": torch.tensor(1.0)}, log_vars)
    with pytest.raises(ValueError, match="scalar"):
        uncertainty_weighted_loss({"udf": torch.ones(3)}, log_vars)
    with pytest.raises(ValueError, match="shape"):
        clamped_l1(torch.ones(3), torch.ones(4))


# ------------------------------------------------------------------------------------------------ tiny fit


@pytest.mark.slow
def test_udf_decoder_overfits_a_sphere():
    """Fixed random features on 512 points of a sphere: the decoder alone learns the sphere's UDF."""
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    radius = 0.3
    points = fibonacci_sphere(512, radius)[None]
    features = torch.randn(1, 512, 16, generator=g)
    dirs = torch.randn(1024, 3, generator=g)
    near = dirs / dirs.norm(dim=-1, keepdim=True) * (radius + 0.03 * torch.randn(1024, 1, generator=g))
    query = torch.cat([near, torch.rand(1024, 3, generator=g) - 0.5])[None]
    target = (query.norm(dim=-1) - radius).abs()

    dec = UDFDecoder(UDFDecoderConfig(in_features=16, hidden=(64, 64)))
    idx = dec.pool.neighbours(query, points)
    opt = torch.optim.Adam(dec.parameters(), lr=3e-3)
    history = []
    threads = torch.get_num_threads()
    # Ops this small gain nothing from a second thread and wait for it when another process holds a core.
    torch.set_num_threads(1)
    try:
        for _ in range(200):
            loss = clamped_l1(dec(query, points, features, idx=idx), target)
            opt.zero_grad()
            loss.backward()
            opt.step()
            history.append(loss.item())
    finally:
        torch.set_num_threads(threads)
    final = sum(history[-10:]) / 10
    assert final < history[0] / 10, f"loss {history[0]:.4f} -> {final:.4f}"
