"""Neural Unsigned Distance Fields (NDF, Chibane et al., NeurIPS 2020): a voxel-CNN encoder and a UDF decoder.

The encoder of the thesis' implicit-representation experiments (ch. 3 §3.3.3, Table 3.5), following the
released IF-Net / NDF code::

    points (B, N, 3) --voxelize--> occupancy (B, 1, R, R, R) [+ in-voxel offsets, 3 ch.]    grid 0, R^3
    conv_in 1 -> 16, ReLU, BN                                                              grid 1, R^3
    maxpool; conv_0 16 -> 32, ReLU; conv_0_1 32 -> 32, ReLU; BN                            grid 2, (R/2)^3
    maxpool; conv_1 32 -> 64 ...; conv_1_1 ...                                             grid 3, (R/4)^3
    ... conv_2 / conv_2_1 (128), conv_3 / conv_3_1 (128), conv_4 / conv_4_1 (128)         grids 4-6

11 convolutions in the paper configuration, the layers whose bit-widths Table 3.5 sets (its "# Bits" column
sums 11 values per configuration, and 2.64 M float32 conv parameters are its 84.5 Mb). At every query the
decoder samples every grid trilinearly at the point and at ``±displacement`` along each axis (7 points),
concatenates those features with the query's coordinates and maps them through a point-wise MLP whose output
goes through ``|x|`` (the reference uses a ReLU, which can collapse to a constant 0 early in training; see
:attr:`NDFConfig.activation` and assets/models/README.md), so the distance is never negative.

Coordinates
-----------
Points live in the unit cube ``[-0.5, 0.5]^3``. Grids are indexed ``[b, c, x, y, z]`` (D = x, H = y, W = z,
as every volume of the project); :func:`F.grid_sample` reads its last coordinate axis as (W, H, D), so queries
are flipped to (z, y, x) and scaled by 2 before sampling (:func:`to_grid_coords`). Voxel ``i`` is the cell
``[-0.5 + i / R, -0.5 + (i + 1) / R)``, and sampling uses ``align_corners=False``, which places grid values at
cell centres: a max-pooled grid's cells are unions of 2^3 finer cells with the same bounds, so every scale
stays aligned with the cube without per-scale offsets.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..config import DERIVED, Config
from .base import ImplicitModel, SceneField
from .decoders.udf import udf_activation

DEFAULT_QUERY_CHUNK = 16_384
"""Queries decoded at once. The concatenated multi-scale features are ``(chunk, feature_size)`` floats: 16k
queries keep the paper decoder's 3482 features per query to about 230 MB."""

INPUT_GRID_CHANNELS = {"occupancy": 1, "occupancy+offset": 4}
"""Input grid kinds (:attr:`NDFConfig.input_grid`) -> channels."""

NDF_DISPLACEMENT = 0.0361
"""NDF's neighbourhood offset, 0.0722 in ``grid_sample``'s [-1, 1] coordinates, in unit-cube units."""


@dataclass
class NDFConfig(Config):
    """Architecture of :class:`NDFModel`. The defaults are :meth:`cpu_small`."""

    resolution: int = 64
    """Voxels per axis of the input occupancy grid (the paper uses 256); a multiple of ``2 ** len(channels)``
    so that every max-pooling halves it exactly, and at least twice that (64 for five scales)."""
    input_grid: str = "occupancy"
    """What the input grid holds per voxel: ``"occupancy"`` (the paper: 1 where a point falls) or
    ``"occupancy+offset"`` (also the mean position of the voxel's points relative to its centre, in voxel
    units: where inside the voxel the surface passes, which a coarse grid otherwise loses; see
    :func:`voxelize`)."""
    in_channels: int | None = field(default=None, metadata={DERIVED: True})
    """Channels of the input grid; follows from :attr:`input_grid` (1 or 4) when None, and must agree with it."""
    stem_channels: int = 16
    """Output channels of the first convolution (``conv_in``), applied at full resolution."""
    channels: tuple[int, ...] = (16, 32, 32, 64, 64)
    """Output channels of each further scale, finest first; each scale starts with a 2x max-pooling."""
    convs_per_scale: int = 2
    """3x3x3 convolutions per scale after the stem (``conv_k`` and ``conv_k_1`` in the reference)."""
    batch_norm: bool = True
    """Batch-normalise the output of the stem and of every scale (after its last ReLU), as the reference."""
    displacement: float = NDF_DISPLACEMENT
    """Offset (unit-cube units) of the 6 neighbours sampled around each query, ``±d`` along each axis; 0 samples
    the query point alone."""
    hidden: tuple[int, ...] = (128, 128, 128)
    """Widths of the decoder's hidden layers (the reference uses 512, 256, 256)."""
    activation: str = "abs"
    """Output non-linearity (as :attr:`~nir_core.models.decoders.UDFDecoderConfig.activation`): ``"abs"`` keeps a
    gradient everywhere; ``"relu"`` is the reference's, and at lr 1e-3 on generated rooms it can die within the
    first steps, every output 0 (assets/models/README.md)."""
    append_coords: bool = True
    """Give the decoder the query's coordinates alongside its sampled features, as the reference does."""
    padding_mode: str = "border"
    """``grid_sample`` padding for samples outside the cube: "border" repeats the outer voxels (reference),
    "zeros" reads zeros."""

    def __post_init__(self):
        if self.input_grid not in INPUT_GRID_CHANNELS:
            raise ValueError(f"input_grid must be one of {sorted(INPUT_GRID_CHANNELS)}, got {self.input_grid!r}")
        expected = INPUT_GRID_CHANNELS[self.input_grid]
        if self.in_channels is None:
            self.in_channels = expected
        elif self.in_channels != expected:
            raise ValueError(f"in_channels {self.in_channels} does not match input_grid {self.input_grid!r} "
                             f"({expected} channels)")
        self.channels = tuple(int(c) for c in self.channels)
        self.hidden = tuple(int(h) for h in self.hidden)
        if not self.channels or min(self.channels) < 1:
            raise ValueError(f"channels must be a non-empty tuple of positive widths, got {self.channels}")
        if min(self.in_channels, self.stem_channels, self.convs_per_scale) < 1 or (self.hidden and min(self.hidden) < 1):
            raise ValueError(f"in_channels, stem_channels, convs_per_scale and hidden widths must be >= 1: {self}")
        step = 2 ** len(self.channels)
        # Exact halving keeps every scale aligned with the cube; a coarsest grid of at least 2^3 voxels keeps
        # training batch norm defined for a single scene (one value per channel has no variance).
        if self.resolution < 2 * step or self.resolution % step:
            raise ValueError(f"resolution {self.resolution} must be a multiple of 2**{len(self.channels)} = {step} "
                             f"(one 2x max-pooling per scale) and at least {2 * step} (a coarsest grid of 2^3 voxels)")
        if self.displacement < 0:
            raise ValueError(f"displacement must be >= 0, got {self.displacement}")
        if self.padding_mode not in ("border", "zeros", "reflection"):
            raise ValueError(f"padding_mode must be 'border', 'zeros' or 'reflection', got {self.padding_mode!r}")

    @classmethod
    def paper(cls, **overrides) -> NDFConfig:
        """The released NDF network: 256^3 input, channels 16 | 32, 64, 128, 128, 128, decoder 512-256-256.

        About 4.6 M parameters (2.64 M in the convolutions). Pass ``resolution=128`` to fit a CPU's time budget.
        """
        return cls(**{"resolution": 256, "channels": (32, 64, 128, 128, 128), "hidden": (512, 256, 256), **overrides})

    @classmethod
    def cpu_small(cls, **overrides) -> NDFConfig:
        """The paper's layout (same 11 convolutions, same 7 sampled grids) at 64^3 with narrower layers (about
        0.73 M parameters), sized for a 2-core CPU."""
        return cls(**overrides)

    @property
    def grid_channels(self) -> tuple[int, ...]:
        """Channels of each grid the encoder returns: the input, the stem, then every scale."""
        return (self.in_channels, self.stem_channels, *self.channels)

    @property
    def num_conv_layers(self) -> int:
        """3D convolutions of the encoder: the stem plus ``convs_per_scale`` per scale."""
        return 1 + self.convs_per_scale * len(self.channels)

    @property
    def num_displacements(self) -> int:
        """Points sampled per query: the query alone, or it and its 6 axis neighbours."""
        return 7 if self.displacement > 0 else 1

    @property
    def feature_size(self) -> int:
        """Inputs of the decoder MLP per query."""
        return sum(self.grid_channels) * self.num_displacements + 3 * self.append_coords


# ------------------------------------------------------------------------------------------- components


def voxelize(points: Tensor, resolution: int, offsets: bool = False) -> Tensor:
    """Occupancy grid of a batch of point clouds, optionally with where the points sit inside their voxels.

    Parameters
    ----------
    points: (B, N, 3) float positions in the unit cube ``[-0.5, 0.5]^3``; points outside are clamped into the
        border voxels.
    resolution: R, voxels per axis.
    offsets: also return, per voxel, the mean of its points' positions relative to the voxel's centre, in voxel
        units (each in [-0.5, 0.5]; 0 in empty voxels).

    Returns
    -------
    (B, 1, R, R, R) float grid (points' dtype) indexed ``[b, 0, x, y, z]``: 1 where a voxel holds at least one
    point, voxel ``i`` covering ``[-0.5 + i / R, -0.5 + (i + 1) / R)``; with ``offsets``, (B, 4, R, R, R):
    the occupancy, then the mean offset along x, y, z.
    """
    if points.ndim != 3 or points.shape[-1] != 3:
        raise ValueError(f"points must be (B, N, 3), got {tuple(points.shape)}")
    b, _, _ = points.shape
    r = int(resolution)
    scaled = (points.detach() + 0.5) * r  # voxel units
    idx = scaled.floor().long().clamp_(0, r - 1)  # (B, N, 3)
    flat = ((torch.arange(b, device=points.device).view(b, 1) * r + idx[..., 0]) * r + idx[..., 1]) * r + idx[..., 2]
    flat = flat.reshape(-1)
    # index_fill writes one value whatever the duplicates, so the result is deterministic (unlike a scatter-add).
    grid = torch.zeros(b * r ** 3, dtype=points.dtype, device=points.device).index_fill_(0, flat, 1.0)
    if not offsets:
        return grid.view(b, 1, r, r, r)
    # Clamped points keep the offset of the border voxel's centre they were moved into, within [-0.5, 0.5].
    offset = (scaled - (idx + 0.5)).clamp_(-0.5, 0.5).reshape(-1, 3)
    sums = torch.zeros(b * r ** 3, 3, dtype=points.dtype, device=points.device).index_add_(0, flat, offset)
    counts = torch.zeros(b * r ** 3, dtype=points.dtype, device=points.device).index_add_(
        0, flat, torch.ones_like(flat, dtype=points.dtype))
    mean = sums / counts.clamp(min=1).unsqueeze(1)  # (B R^3, 3), 0 where empty
    return torch.cat([grid.view(b, 1, r, r, r), mean.T.reshape(3, b, r, r, r).transpose(0, 1)], dim=1)


def to_grid_coords(points: Tensor) -> Tensor:
    """Unit-cube points (..., 3) as ``x, y, z`` -> ``grid_sample`` coordinates (..., 3) in [-1, 1] as ``z, y, x``
    (its last axis reads W, H, D, and grids are indexed ``[x, y, z]``)."""
    return points.flip(-1) * 2.0


def axis_offsets(displacement: float) -> Tensor:
    """(K, 3) unit-cube offsets of the sampled neighbourhood: the origin, then ``∓d`` along z, y, x.

    The order follows the reference code, whose offsets are built along ``grid_sample``'s axes (W = z first), so
    the decoder's input layout matches it.
    """
    if displacement <= 0:
        return torch.zeros(1, 3)
    offsets = [[0.0, 0.0, 0.0]]
    for axis in (2, 1, 0):
        for sign in (-1.0, 1.0):
            o = [0.0, 0.0, 0.0]
            o[axis] = sign * displacement
            offsets.append(o)
    return torch.tensor(offsets)


def sample_grids(grids: Sequence[Tensor], points: Tensor, padding_mode: str = "border") -> Tensor:
    """Trilinear samples of every grid at every point.

    Parameters
    ----------
    grids: L tensors (B, C_l, D_l, H_l, W_l) indexed ``[b, c, x, y, z]``, all spanning the unit cube (any
        resolutions).
    points: (B, M, K, 3) unit-cube positions (K samples per query, e.g. a displacement neighbourhood).
    padding_mode: ``grid_sample`` padding for points outside the cube.

    Returns
    -------
    (B, M, sum C_l, K) features: grids in order along the channel axis, the K samples innermost.
    """
    b, m, k, _ = points.shape
    parts = _query_parts(b, m, points.device)
    g = to_grid_coords(points).reshape(b * parts, m // parts, k, 1, 3)
    # Each (B * parts, C, M / parts, K, 1); align_corners=False puts values at cell centres (see the module
    # docstring). A scene's grids are expanded (a view) to its query parts. One concatenation, not writes into
    # slices of a preallocated buffer: under autograd every slice write costs a copy of the whole gradient in the
    # backward pass.
    samples = [F.grid_sample(x.expand(b * parts, *x.shape[1:]),
                             g.to(x.dtype), mode="bilinear", padding_mode=padding_mode, align_corners=False)
               for x in grids]
    return torch.cat([f.view(b, parts, f.shape[1], m // parts, k).permute(0, 1, 3, 2, 4).reshape(b, m, f.shape[1], k)
                      for f in samples], dim=2)


def _query_parts(b: int, m: int, device: torch.device) -> int:
    """Batch entries to spread each scene's ``m`` queries over in :func:`sample_grids`: ``grid_sample``'s 3D CPU
    kernel runs batch entries in parallel and nothing else, so one scene's queries would use one core."""
    if b != 1 or device.type != "cpu":
        return 1
    # Only reads the thread count (set by the entry point, nir_core.cpu): the features do not depend on it, the
    # grids' gradients only up to the order of summation.
    parts = torch.get_num_threads()
    while parts > 1 and m % parts:
        parts -= 1
    return parts


class SlabConv3d(nn.Conv3d):
    """A 3D convolution that computes a single grid as two depth slabs side by side in the batch, with one voxel
    of overlap so every output voxel sees the same neighbours: the same result, much faster on a CPU.

    Why: PyTorch's CPU backend sends a 3x3x3 convolution to oneDNN only for batches of two or more (its size
    heuristic is made for 2D images); a batch of one scene falls to ``slow_conv3d``, which is several times
    slower (timings in assets/models/README.md). The weights, the state dict and the quantisation
    hooks (``compress.qat`` calls :meth:`_conv_forward`) are those of :class:`nn.Conv3d`.
    """

    def _conv_forward(self, input: Tensor, weight: Tensor, bias: Tensor | None) -> Tensor:
        depth = input.shape[2]
        if (input.shape[0] != 1 or input.device.type != "cpu" or depth < 4 or depth % 2
                or self.kernel_size != (3, 3, 3) or self.padding != (1, 1, 1) or self.stride != (1, 1, 1)
                or self.dilation != (1, 1, 1) or self.padding_mode != "zeros"):
            return super()._conv_forward(input, weight, bias)
        half = depth // 2
        padded = F.pad(input, (0, 0, 0, 0, 1, 1))  # the depth padding the convolution would add
        slabs = torch.cat([padded[:, :, :half + 2], padded[:, :, half:]])  # (2, C, half + 2, H, W)
        out = F.conv3d(slabs, weight, bias, padding=(0, 1, 1), groups=self.groups)  # (2, C', half, H, W)
        return torch.cat([out[:1], out[1:]], dim=2)


class NDFEncoder(nn.Module):
    """The hierarchical 3D CNN: input grid -> one feature grid per scale.

    Parameters
    ----------
    cfg: the architecture (``in_channels``, ``stem_channels``, ``channels``, ``convs_per_scale``, ``batch_norm``).
    """

    def __init__(self, cfg: NDFConfig):
        super().__init__()
        self.cfg = cfg

        def norm(c: int) -> nn.Module:
            return nn.BatchNorm3d(c) if cfg.batch_norm else nn.Identity()

        self.conv_in = SlabConv3d(cfg.in_channels, cfg.stem_channels, 3, padding=1)
        self.norm_in = norm(cfg.stem_channels)
        self.scales = nn.ModuleList()
        self.norms = nn.ModuleList()
        c_prev = cfg.stem_channels
        for c in cfg.channels:
            self.scales.append(nn.ModuleList(SlabConv3d(c_prev if i == 0 else c, c, 3, padding=1)
                                             for i in range(cfg.convs_per_scale)))
            self.norms.append(norm(c))
            c_prev = c

    def conv_layers(self) -> list[nn.Conv3d]:
        """The convolutions in forward order (what per-layer bit-width schedules index)."""
        return [self.conv_in, *(conv for scale in self.scales for conv in scale)]

    def forward(self, grid: Tensor) -> list[Tensor]:
        """(B, C_in, R, R, R) input grid -> ``2 + len(channels)`` grids, finest first: the input itself,
        the stem's (B, stem_channels, R, R, R), then scale ``s``'s (B, channels[s], R / 2^(s+1), ...)."""
        if grid.ndim != 5 or grid.shape[1] != self.cfg.in_channels:
            raise ValueError(f"the encoder takes (B, {self.cfg.in_channels}, R, R, R) grids, got {tuple(grid.shape)}")
        # Batch norm after the ReLU, not before, as in the reference network.
        x = self.norm_in(F.relu(self.conv_in(grid)))
        out = [grid, x]
        for convs, norm in zip(self.scales, self.norms):
            x = F.max_pool3d(x, 2)
            for conv in convs:
                x = F.relu(conv(x))
            x = norm(x)
            out.append(x)
        return out


class NDFDecoder(nn.Module):
    """Multi-scale trilinear sampling around each query + point-wise MLP -> unsigned distance >= 0.

    Parameters
    ----------
    cfg: the architecture (``grid_channels``, ``displacement``, ``hidden``, ``append_coords``, ``padding_mode``).
    """

    offsets: Tensor

    def __init__(self, cfg: NDFConfig):
        super().__init__()
        self.cfg = cfg
        self.register_buffer("offsets", axis_offsets(cfg.displacement), persistent=False)
        widths = [cfg.feature_size, *cfg.hidden, 1]
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(widths[:-1], widths[1:]))
        self.activation = udf_activation(cfg.activation)

    def features(self, grids: Sequence[Tensor], queries: Tensor) -> Tensor:
        """(B, M, 3) unit-cube queries -> (B, M, feature_size) decoder inputs.

        Laid out as the reference: channel-major, displacement-minor (``c * K + k``), then the query in
        ``grid_sample`` coordinates.
        """
        pts = queries.unsqueeze(2) + self.offsets.to(queries.dtype)  # (B, M, K, 3)
        f = sample_grids(grids, pts, self.cfg.padding_mode).flatten(2)  # (B, M, C * K)
        if self.cfg.append_coords:
            f = torch.cat([f, to_grid_coords(queries).to(f.dtype)], dim=-1)
        return f

    def forward(self, grids: Sequence[Tensor], queries: Tensor, chunk: int = DEFAULT_QUERY_CHUNK) -> Tensor:
        """Encoder grids (each (B, C_l, ...)) and (B, M, 3) unit-cube queries -> (B, M) distances >= 0.

        Queries go through ``chunk`` at a time, bounding the (chunk, feature_size) feature matrix; autograd still
        flows through every chunk.
        """
        if queries.ndim != 3 or queries.shape[-1] != 3:
            raise ValueError(f"queries must be (B, M, 3), got {tuple(queries.shape)}")
        if len(grids) != len(self.cfg.grid_channels):
            raise ValueError(f"the decoder takes {len(self.cfg.grid_channels)} grids, got {len(grids)}")
        if queries.shape[0] != grids[0].shape[0]:
            raise ValueError(f"{queries.shape[0]} query batches for {grids[0].shape[0]} encodings")
        step = max(1, int(chunk))
        outs = []
        for lo in range(0, queries.shape[1], step):
            x = self.features(grids, queries[:, lo:lo + step])
            for layer in self.layers[:-1]:
                x = F.relu(layer(x), inplace=True)
            outs.append(self.activation(self.layers[-1](x)).squeeze(-1))
        if not outs:
            return queries.new_zeros(queries.shape[:2])
        return torch.cat(outs, dim=1)


# ------------------------------------------------------------------------------------------- assembly


class NDFModel(ImplicitModel):
    """NDF: point cloud -> multi-scale feature grids -> unsigned distance at any query.

    Parameters
    ----------
    cfg: the architecture; :meth:`NDFConfig.cpu_small` when None.
    """

    def __init__(self, cfg: NDFConfig | None = None):
        super().__init__()
        self.cfg = cfg = cfg or NDFConfig.cpu_small()
        self.encoder = NDFEncoder(cfg)
        self.decoder = NDFDecoder(cfg)
        # Training tasks freeze and train parts by name (see nir_core.models.base.ImplicitModel).
        self.parts = {"encoder": self.encoder, "udf": self.decoder}

    def encode(self, points: Tensor, colours: Tensor | None = None) -> list[Tensor]:
        """(B, N, 3) unit-cube point clouds -> the encoding: ``2 + len(channels)`` grids (B, C_l, R_l, R_l, R_l),
        finest first (see :meth:`NDFEncoder.forward`). The NDF reads no colour: ``colours`` is ignored."""
        return self.encoder(voxelize(points, self.cfg.resolution, offsets=self.cfg.input_grid != "occupancy"))

    def decode(self, encoding: Sequence[Tensor], queries: Tensor, chunk: int = DEFAULT_QUERY_CHUNK) -> Tensor:
        """Encoding (from :meth:`encode`) and (B, M, 3) unit-cube queries -> (B, M) unsigned distances >= 0."""
        return self.decoder(encoding, queries, chunk)

    def udf(self, encoding: Sequence[Tensor], queries: Tensor) -> Tensor:
        """The :class:`ImplicitModel` name of :meth:`decode`: queries (B, M, 3) -> (B, M) UDF."""
        return self.decode(encoding, queries)

    def config_json(self) -> dict:
        return self.cfg.to_json()

    def forward(self, points: Tensor, queries: Tensor) -> Tensor:
        """(B, N, 3) point clouds and (B, M, 3) queries -> (B, M) unsigned distances >= 0."""
        return self.decode(self.encode(points), queries)

    def field(self, points: Tensor | list[Tensor], batch_size: int = DEFAULT_QUERY_CHUNK,
              colours: Tensor | list[Tensor] | None = None) -> SceneField:
        """The :class:`~nir_core.field.Field` of one scene (see :class:`~nir_core.models.base.SceneField`):
        points (N, 3) or (1, N, 3), or a list of draws (voxelised together); ``batch_size`` queries per decoder
        call; ``colours`` ignored (the NDF reads none)."""
        return SceneField(self, points, batch_size, colours)

    def num_parameters(self) -> int:
        return sum(p.numel() for p in self.parameters())


__all__ = ["NDFConfig", "NDFEncoder", "SlabConv3d", "NDFDecoder", "NDFModel", "voxelize", "sample_grids",
           "to_grid_coords", "axis_offsets", "DEFAULT_QUERY_CHUNK", "NDF_DISPLACEMENT", "INPUT_GRID_CHANNELS"]


def build(config: dict) -> NDFModel:
    """Registry builder: an NDF model from its config JSON (the CPU preset when empty)."""
    return NDFModel(NDFConfig.from_json(config) if config else NDFConfig.cpu_small())
