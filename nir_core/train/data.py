"""Training scenes: encoder input points and labelled UDF ground truth, streamed from their sources.

A *source* yields ground-truth scenes (a :class:`Scan` with a mesh or dense points, and labels when known);
:class:`UDFSceneDataset` turns scene ``i`` into one training example, freshly sampled each epoch:
``points`` (N, 3) encoder input on the surface (or from a simulated capture of it), ``queries`` (M, 3)
NDF-style off-surface points, ``udf`` (M,) their exact distances and ``labels`` (M,) the label of the nearest
surface point (-1 where unknown), all in the unit cube fitted to the scene. Synthetic rooms are cheap to generate,
so they are generated on the fly and nothing is cached on disk.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from ..config import Config, bounded, check_ranges
from ..data.ground_truth import MeshField, SurfelsField, field_from_scan
from ..data.io import find_scans, load
from ..data.labels import IGNORE_LABEL, SCANNET20, LabelSet, require_label_set
from ..data.sampling import SamplingConfig, make_udf_samples
from ..data.scan import Scan
from ..errors import NIRStudioError
from ..models.contextualiser import NO_COLOUR
from .augment import AugmentConfig, augment, augment_colours, class_weights


@dataclass
class SceneSamplingConfig(Config):
    """How one training example is drawn from a scene."""

    num_input: int = bounded(10_240, 4)
    """Encoder input points sampled on the surface (the thesis feeds 10,240 in training; inference uses the
    protocol's :data:`~nir_core.protocol.INPUT_POINTS`)."""
    num_queries: int = bounded(50_000, 1)
    """UDF / label queries per scene (the thesis uses 50k)."""
    sigmas: tuple[float, ...] = (0.08, 0.02, 0.003)
    """Query noise levels in unit-cube units (NDF)."""
    ratios: tuple[float, ...] = (0.01, 0.49, 0.5)
    """Share of queries per noise level (NDF)."""
    input_noise: float = bounded(0.0, 0.0)
    """Gaussian noise (unit-cube units) added to the input points, as a scanner would."""
    scanned_input: float = 0.0
    """Share of examples whose encoder input is drawn from a simulated RGB-D capture of the scene
    (:func:`~nir_core.data.synthetic.simulate_scan`: partial, noisy, dense near the camera and sparse far from it,
    like a real scan) instead of from the whole surface; the UDF targets stay those of the exact surface, so the
    encoder is asked to complete what the capture missed. Generated rooms only."""
    colour: bool = False
    """Give each example its input points' colours (``colours``: (N, 3) in [0, 1], ``NO_COLOUR`` where the scene has
    none), for a contextualiser that reads colour (``model.context.colour``): a simulated capture's own colours
    (lit, with per-view exposure and sensor noise), else each point's nearest scene point's."""
    augment: AugmentConfig = field(default_factory=AugmentConfig)
    """Crops, turns about the vertical, scaling, drop-out and class balancing of each example
    (:mod:`~nir_core.train.augment`; all off by default)."""

    def __post_init__(self):
        check_ranges(self)


class SceneSource:
    """Ground-truth scenes by index. Subclasses implement ``__len__``, :meth:`scene` and :attr:`label_set`."""

    label_set: LabelSet | None = None

    def __len__(self) -> int:  # pragma: no cover - interface
        raise NotImplementedError

    def scene(self, index: int) -> tuple[Scan, tuple | None, str]:
        """The scene in its own coordinates, optionally ``(mesh, per-face labels)`` for exact labels, and a name."""
        raise NotImplementedError  # pragma: no cover - interface

    can_capture = False
    """Whether :meth:`captured` can simulate a scan of the scenes."""

    def captured(self, index: int, seed: int) -> Scan:
        """A simulated RGB-D capture of scene ``index`` (points and colours), in the scene's own coordinates."""
        raise NotImplementedError  # pragma: no cover - interface


@dataclass
class SyntheticRoomSource(SceneSource):
    """Procedural rooms ``seed, seed + 1, ...`` (labelled with ScanNet-20)."""

    count: int
    """Number of rooms."""
    seed: int = 0
    """Seed of room 0; held-out sets use a disjoint range (e.g. 10_000 onwards)."""
    label_set: LabelSet | None = field(default=SCANNET20, repr=False)

    def __len__(self) -> int:
        return self.count

    def scene(self, index: int):
        from ..data.synthetic import generate_room

        room = generate_room(self.seed + index)
        return room.to_scan(), (room.mesh, room.face_labels), f"room_{self.seed + index:05d}"

    can_capture = True

    def captured(self, index: int, seed: int) -> Scan:
        from ..data.synthetic import ScannerConfig, generate_room, simulate_scan

        return simulate_scan(generate_room(self.seed + index), ScannerConfig(n_points=None), seed=seed)


@dataclass
class SyntheticObjectSource(SceneSource):
    """Procedural single objects, one class after another (object ``i`` is of class ``i % 15``, drawn from
    seed ``seed + i // 15``), labelled per face with their parts' material group and as a whole with their
    class (thesis ch. 5: per-point and per-object tasks on the same shapes)."""

    count: int
    """Number of objects."""
    seed: int = 0
    """Seed of the first object of each class; held-out sets use a disjoint range."""
    label_set: LabelSet | None = field(default=None, repr=False)

    def __post_init__(self):
        from ..data.synthetic.objects import MATERIAL_PARTS, OBJECT_CLASSES

        self.label_set = self.label_set or MATERIAL_PARTS
        self.class_names = OBJECT_CLASSES

    def __len__(self) -> int:
        return self.count

    def class_of(self, index: int) -> int:
        """The object class of example ``index``."""
        return index % len(self.class_names)

    def scene(self, index: int):
        from ..data.synthetic.objects import generate_object_parts

        name = self.class_names[self.class_of(index)]
        seed = self.seed + index // len(self.class_names)
        mesh, face_labels, _ = generate_object_parts(name, seed)
        return Scan(points=np.asarray(mesh.vertices, np.float32), mesh=mesh), (mesh, face_labels), f"{name}_{seed:05d}"


@dataclass
class FileSource(SceneSource):
    """Scans read by :func:`nir_core.data.io.load`: files, folders (every scan under them) or dataset files."""

    paths: list[Path]
    """The inputs (expanded to one path per scan)."""
    label_set: LabelSet | None = field(default=None, repr=False)
    """The label space the model predicts; when set, every scan must carry labels in it."""

    def __post_init__(self):
        expanded: list[Path] = []
        for p in self.paths:
            expanded.extend(find_scans(p))
        if not expanded:
            raise NIRStudioError(f"no scans found in {', '.join(str(p) for p in self.paths)}")
        self.paths = expanded

    def __len__(self) -> int:
        return len(self.paths)

    def scene(self, index: int):
        scan = load(self.paths[index])
        self._check(scan, self.paths[index])
        return scan, None, self.paths[index].stem

    def _check(self, scan: Scan, path: Path) -> None:
        if self.label_set is None:
            return
        if scan.labels is None or not (np.asarray(scan.labels) >= 0).any():
            raise NIRStudioError(f"{path}: has no labels; training semantics needs scans labelled in "
                                 f"{self.label_set.name}")
        require_label_set(self.label_set, scan.label_set, path)

    def check_all(self) -> None:
        """Reads every scan once and raises on the first one unfit for training (before any step is taken)."""
        for path in self.paths:
            self._check(load(path), path)


FIELD_CACHE_SCENES = 64
"""Point scans whose ground-truth fields a dataset keeps (a 50k-point scan's is ~5 MB)."""


class UDFSceneDataset(Dataset):
    """Training examples from a :class:`SceneSource`; call :meth:`set_epoch` to draw new samples each epoch."""

    def __init__(self, source: SceneSource, cfg: SceneSamplingConfig | None = None, seed: int = 0):
        self.source, self.cfg, self.seed, self.epoch = source, cfg or SceneSamplingConfig(), seed, 0
        self._fields: dict[int, tuple[Scan, SurfelsField, str]] = {}
        if not 0.0 <= self.cfg.scanned_input <= 1.0:
            raise NIRStudioError(f"data.sampling.scanned_input must be a share in [0, 1], got {self.cfg.scanned_input}")
        if self.cfg.scanned_input and not source.can_capture:
            raise NIRStudioError(f"data.sampling.scanned_input needs scenes that can be scanned (generated rooms, "
                                 f"data.source=synthetic); {type(source).__name__} cannot")

    def __len__(self) -> int:
        return len(self.source)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def _scene(self, index: int) -> tuple[Scan, MeshField | SurfelsField, str]:
        """Scene ``index`` in its unit cube with its ground-truth field (cached for point scans, see below)."""
        if index in self._fields:
            return self._fields[index]
        scan, mesh_labels, name = self.source.scene(index)
        unit = scan.normalised()
        if mesh_labels is not None:  # a generated room: its exact per-face labels, moved like the scan
            mesh = mesh_labels[0].copy()
            mesh.apply_transform(unit.normalisation.matrix())
            return unit, MeshField(mesh, labels=mesh_labels[1], num_classes=len(self.source.label_set)), name
        found = unit, field_from_scan(unit), name
        if not unit.has_faces:
            # A point scan's disks (normals, radii, KD-tree) take longer to build than a training step's sampling;
            # they never change, so the last few scenes keep theirs.
            if len(self._fields) >= FIELD_CACHE_SCENES:
                self._fields.pop(next(iter(self._fields)))
            self._fields[index] = found
        return found

    def __getitem__(self, index: int) -> dict:
        unit, field_, name = self._scene(index)
        seed = int(np.random.SeedSequence([self.seed, self.epoch, index]).generate_state(1)[0])
        cfg = SamplingConfig(num_surface=self.cfg.num_input, num_queries=self.cfg.num_queries,
                             sigmas=tuple(self.cfg.sigmas), ratios=tuple(self.cfg.ratios), seed=seed)
        samples = make_udf_samples(unit, cfg, field=field_)
        points = samples.surface
        colours = unit.colours_at(points) if self.cfg.colour else None
        rng = np.random.default_rng(seed + 1)
        if self.cfg.scanned_input and rng.random() < self.cfg.scanned_input:
            capture = self.source.captured(index, seed)
            pick = rng.choice(len(capture), self.cfg.num_input, replace=len(capture) < self.cfg.num_input)
            points = unit.normalisation.apply(capture.points[pick])  # the room's unit cube
            if self.cfg.colour:
                colours = None if capture.colors is None else capture.colors[pick].astype(np.float32) / 255.0
        if self.cfg.colour and colours is None:
            colours = np.full((len(points), 3), NO_COLOUR, np.float32)
        if self.cfg.input_noise > 0:
            points = points + rng.normal(0, self.cfg.input_noise, points.shape).astype(np.float32)
        labels = samples.labels if samples.labels is not None else np.full(len(samples.queries), IGNORE_LABEL)
        queries, udf = samples.queries, samples.distances
        if self.cfg.augment.active:
            points, queries, udf, labels, colours = augment(points, queries, udf, np.asarray(labels),
                                                            self.cfg.augment, rng, colours)
        extra = {}
        if colours is not None:
            extra["colours"] = torch.from_numpy(np.ascontiguousarray(augment_colours(colours, self.cfg.augment, rng),
                                                                     dtype=np.float32))
        if self.cfg.augment.class_balance:
            extra["label_weights"] = torch.from_numpy(class_weights(np.asarray(labels), self.cfg.augment.class_balance))
        return {
            **extra,
            "points": torch.from_numpy(np.ascontiguousarray(points, dtype=np.float32)),
            "queries": torch.from_numpy(np.ascontiguousarray(queries, dtype=np.float32)),
            "udf": torch.from_numpy(np.ascontiguousarray(udf, dtype=np.float32)),
            "labels": torch.from_numpy(np.asarray(labels, dtype=np.int64)),
            "index": index,
            "name": name,
            # The object class, for sources that have one (-1 elsewhere).
            "class": torch.tensor(self.source.class_of(index) if hasattr(self.source, "class_of") else IGNORE_LABEL),
        }
