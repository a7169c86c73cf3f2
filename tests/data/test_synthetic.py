"""Synthetic rooms, objects and simulated scans: determinism, valid layouts, labels, realism of the scans."""
from __future__ import annotations

import json

import numpy as np
import open3d as o3d
import pytest
import trimesh
from scipy.spatial import ConvexHull, cKDTree

from nir_core.data.io import load
from nir_core.data.labels import IGNORE_LABEL, MODELNET40_NAMES, SCANNET20
from nir_core.data.synthetic import (
    BUILDERS,
    KIND_CLASSES,
    OBJECT_CLASSES,
    ROOM_TYPES,
    RoomConfig,
    ScannerConfig,
    build_furniture,
    generate_object,
    generate_room,
    simulate_scan,
    write_room,
)
from nir_core.data.synthetic.structure import room_walls

LAYOUT_SEEDS = range(16)


def _raycaster(vertices: np.ndarray, faces: np.ndarray) -> o3d.t.geometry.RaycastingScene:
    scene = o3d.t.geometry.RaycastingScene()
    scene.add_triangles(o3d.core.Tensor(np.asarray(vertices, np.float32)),
                        o3d.core.Tensor(np.asarray(faces, np.uint32)))
    return scene


@pytest.fixture(scope="module")
def room():
    return generate_room(5)


@pytest.fixture(scope="module")
def scan(room):
    return simulate_scan(room, seed=5)


@pytest.fixture(scope="module")
def layout_rooms():
    rooms = [generate_room(s) for s in LAYOUT_SEEDS]
    rooms += [generate_room(s, RoomConfig(room_type=t)) for t in sorted(ROOM_TYPES) for s in range(100, 106)]
    return rooms


# --------------------------------------------------------------------------------------------- determinism
def test_same_seed_gives_identical_room_and_scan(room, scan):
    again = generate_room(5)
    assert np.array_equal(room.mesh.vertices, again.mesh.vertices)
    assert np.array_equal(room.mesh.faces, again.mesh.faces)
    for name in ("face_labels", "face_instances", "face_colors"):
        assert np.array_equal(getattr(room, name), getattr(again, name)), name
    rescan = simulate_scan(again, seed=5)
    for name in ("points", "colors", "normals", "labels"):
        assert np.array_equal(getattr(scan, name), getattr(rescan, name)), name


def test_different_seeds_give_different_rooms_and_scans(room, scan):
    sizes = {generate_room(s).size for s in range(6)}
    assert len(sizes) == 6
    other = generate_room(6)
    assert len(other.mesh.faces) != len(room.mesh.faces) or not np.array_equal(other.face_labels, room.face_labels)
    assert not np.array_equal(simulate_scan(room, seed=6).points, scan.points)


# --------------------------------------------------------------------------------------------- layouts
def _hull(points: np.ndarray) -> np.ndarray:
    return points[ConvexHull(points).vertices]


def _polygons_overlap(a: np.ndarray, b: np.ndarray) -> bool:
    """Separating-axis test of two convex polygons (vertices in order)."""
    for poly in (a, b):
        edges = np.roll(poly, -1, axis=0) - poly
        for n in np.stack([-edges[:, 1], edges[:, 0]], 1):
            pa, pb = a @ n, b @ n
            if pa.max() <= pb.min() + 1e-9 or pb.max() <= pa.min() + 1e-9:
                return False
    return True


@pytest.mark.slow
def test_floor_furniture_does_not_intersect(layout_rooms):
    for room in layout_rooms:
        width, depth, _ = room.size
        floor = [o for o in room.objects if o.mount == "floor"]
        footprints = {o.group: o.footprint for o in floor}
        groups = sorted(footprints)
        for i, a in enumerate(groups):
            assert footprints[a].inside(width, depth), (room.seed, a)
            for b in groups[i + 1:]:
                assert not footprints[a].overlaps(footprints[b]), (room.seed, a, b)
        # Independently of the recorded footprints: the actual geometry's floor projections are disjoint.
        hulls = {}
        for g in groups:
            ids = [o.instance_id for o in floor if o.group == g]
            faces = room.mesh.faces[np.isin(room.face_instances, ids)]
            xy = np.asarray(room.mesh.vertices)[np.unique(faces)][:, :2]
            assert xy.min() > -1e-6 and xy[:, 0].max() < width + 1e-6 and xy[:, 1].max() < depth + 1e-6
            hulls[g] = _hull(xy)
        for i, a in enumerate(groups):
            for b in groups[i + 1:]:
                assert not _polygons_overlap(hulls[a], hulls[b]), (room.seed, a, b)


def _instance_geometry(room, ids):
    faces = room.mesh.faces[np.isin(room.face_instances, ids)]
    v = np.asarray(room.mesh.vertices)[np.unique(faces)]
    return _hull(v[:, :2]), v[:, 2].min(), v[:, 2].max()


@pytest.mark.slow
def test_wall_items_clear_each_other_and_furniture(layout_rooms):
    """Doors, windows, curtains and pictures: disjoint boxes between items, and no furniture or prop part
    under them reaching their height (where floor projections overlap, the z ranges are apart)."""
    n_items = 0
    for room in layout_rooms:
        items = [o for o in room.objects if o.mount == "wall"]
        for i, a in enumerate(items):
            for b in items[i + 1:]:
                if a.group != b.group:
                    assert not (np.all(a.bounds[0] < b.bounds[1]) and np.all(b.bounds[0] < a.bounds[1])), room.seed
        furniture = [_instance_geometry(room, [o.instance_id]) for o in room.objects if o.mount in ("floor", "on")]
        for item in items:
            n_items += 1
            hull, z0, z1 = _instance_geometry(room, [item.instance_id])
            for f_hull, f_z0, f_z1 in furniture:
                if _polygons_overlap(hull, f_hull):
                    assert f_z1 < z0 or z1 < f_z0, (room.seed, item.kind)
    assert n_items > 50


def test_every_furniture_kind_builds_with_its_labels():
    for kind in BUILDERS:
        allowed = {SCANNET20.index(c) if c is not None else IGNORE_LABEL for c in KIND_CLASSES[kind]}
        for seed in range(4):
            furn = build_furniture(kind, np.random.default_rng(seed))
            mesh = furn.to_trimesh()
            labels = furn.face_labels()
            assert len(mesh.faces) == len(labels) > 0 and np.isfinite(mesh.vertices).all()
            assert set(labels.tolist()) <= allowed, (kind, set(labels.tolist()))
            assert furn.class_name == KIND_CLASSES[kind][0], kind
            lo, hi = mesh.bounds
            assert np.allclose(lo[:2], -hi[:2], atol=1e-9), kind  # footprint centred
            assert lo[2] >= -1e-9 and np.allclose(hi - np.minimum(lo, [lo[0], lo[1], 0]), furn.size)


@pytest.mark.slow
def test_rooms_cover_all_scannet20_classes(layout_rooms):
    seen = set(np.concatenate([r.face_labels for r in layout_rooms]).tolist())
    assert set(range(len(SCANNET20))) <= seen, [SCANNET20.names[i] for i in set(range(20)) - seen]


def test_room_records_and_ground_truth_scan(room):
    assert len(room.face_labels) == len(room.face_instances) == len(room.face_colors) == len(room.mesh.faces)
    assert [o.instance_id for o in room.objects] == list(range(len(room.objects)))
    for o in room.objects:
        assert np.all(room.face_labels[room.face_instances == o.instance_id] == o.label)
    gt = room.to_scan()
    assert gt.label_set is SCANNET20 and gt.mesh is room.mesh and len(gt.points) == len(room.mesh.vertices)
    faces = np.asarray(room.mesh.faces)
    assert np.array_equal(gt.labels[faces[:, 0]], room.face_labels)
    assert np.array_equal(gt.labels[faces[:, 2]], room.face_labels)
    width, depth, height = room.size
    assert 3.0 <= width <= 7.0 and 3.0 <= depth <= 7.0 and 2.4 <= height <= 3.0
    assert abs(room.mesh.bounds[0, 2]) < 1e-9  # the floor is z = 0


def test_unknown_room_type_is_rejected():
    with pytest.raises(ValueError, match="room type"):
        generate_room(0, RoomConfig(room_type="garage"))


# --------------------------------------------------------------------------------------------- openings
@pytest.mark.slow
def test_doors_and_windows_are_holes_in_the_walls(layout_rooms):
    n_doors = n_windows = 0
    for room in layout_rooms[:12]:
        t = room.config.wall_thickness
        wall_faces = np.asarray(room.mesh.faces)[room.face_labels == SCANNET20.index("wall")]
        walls_only = _raycaster(room.mesh.vertices, wall_faces)
        full = _raycaster(room.mesh.vertices, room.mesh.faces)
        walls = room_walls(*room.size[:2])
        rays, solid = [], []
        for o in room.openings:
            wall = walls[o.wall]
            u, z = o.center
            start = np.array([*wall.point(u, -t - 0.5), z])
            rays.append([*start, *wall.normal, 0.0])
            # Control: the same ray 0.2 m beside the opening must hit the wall.
            side = o.u0 - 0.2 if o.u0 > 0.3 else o.u1 + 0.2
            solid.append([*wall.point(side, -t - 0.5), min(z, 1.0), *wall.normal, 0.0])
            n_doors += o.kind == "door"
            n_windows += o.kind == "window"
        rays, solid = np.asarray(rays, np.float32), np.asarray(solid, np.float32)
        through = walls_only.cast_rays(o3d.core.Tensor(rays))["t_hit"].numpy()
        assert np.all(through > 0.5 + t), room.seed
        blocked = walls_only.cast_rays(o3d.core.Tensor(solid))["t_hit"].numpy()
        assert np.allclose(blocked, 0.5, atol=1e-3), room.seed
        doors = np.array([o.kind == "door" for o in room.openings])
        first = full.cast_rays(o3d.core.Tensor(rays[doors]))["t_hit"].numpy()
        assert np.all(first > 0.5 + t), room.seed  # open door panels stand inside the room
    assert n_doors >= 12 and n_windows >= 5


# --------------------------------------------------------------------------------------------- scans
def test_scan_arrays(scan):
    n = ScannerConfig().n_points
    assert scan.points.shape == (n, 3) and scan.points.dtype == np.float32
    assert scan.colors.shape == (n, 3) and scan.colors.dtype == np.uint8
    assert scan.labels.shape == (n,) and scan.label_set is SCANNET20 and scan.mesh is None
    assert np.all((scan.labels >= IGNORE_LABEL) & (scan.labels < len(SCANNET20)))
    assert np.allclose(np.linalg.norm(scan.normals, axis=1), 1.0, atol=1e-4)
    cams = scan.extra["camera_poses"][scan.extra["view_ids"], :3, 3]
    assert np.all(np.einsum("ij,ij->i", scan.normals, cams - scan.points) > 0)  # normals face the sensor
    assert 4 <= len(scan.extra["camera_poses"]) // ScannerConfig().views_per_position <= 8
    assert np.all((cams[:, 2] >= 1.2) & (cams[:, 2] <= 1.8))


def test_scan_points_lie_on_the_surface_with_their_labels(room, scan):
    closest = _raycaster(room.mesh.vertices, room.mesh.faces).compute_closest_points(o3d.core.Tensor(scan.points))
    dist = np.linalg.norm(closest["points"].numpy() - scan.points, axis=1)
    assert np.median(dist) < 0.01 and np.percentile(dist, 99) < 0.06 and dist.max() < 0.2
    assert np.median(dist) > 5e-4  # noisy (Kinect depth noise), not points resampled from the mesh
    nearest = room.face_labels[closest["primitive_ids"].numpy().astype(np.int64)]
    assert np.mean(nearest == scan.labels) > 0.95


def test_scan_is_partial_and_not_uniform(room, scan):
    width, depth, height = room.size
    samples, _ = trimesh.sample.sample_surface(room.mesh, 40000, seed=0)
    inner = samples[(samples[:, 0] > 0.01) & (samples[:, 0] < width - 0.01) & (samples[:, 1] > 0.01)
                    & (samples[:, 1] < depth - 0.01) & (samples[:, 2] < height - 0.01)]
    uniform = inner[np.random.default_rng(0).choice(len(inner), len(scan.points), replace=False)]
    gap_scan = cKDTree(scan.points).query(inner)[0]
    gap_uniform = cKDTree(uniform).query(inner)[0]
    assert np.mean(gap_scan > 0.25) > 0.05 and np.mean(gap_uniform > 0.25) < 0.01
    everything = simulate_scan(room, ScannerConfig(n_points=None), seed=5)
    assert len(everything.points) > len(scan.points)
    assert np.mean(cKDTree(everything.points).query(inner)[0] < 0.03) < 0.98

    def spread(p):  # coefficient of variation of the 8th-neighbour distance
        d = cKDTree(p).query(p, k=9)[0][:, -1]
        return d.std() / d.mean()

    assert spread(scan.points) > 1.2 * spread(uniform)


# --------------------------------------------------------------------------------------------- objects
def test_object_generator_classes_and_variation():
    assert len(OBJECT_CLASSES) >= 8 and set(OBJECT_CLASSES) <= set(MODELNET40_NAMES)
    for idx, name in enumerate(OBJECT_CLASSES):
        shapes = [generate_object(name, seed) for seed in range(4)]
        assert all(i == idx for _, i in shapes)
        assert all(len(m.faces) > 0 and np.isfinite(m.vertices).all() for m, _ in shapes)
        signatures = {(len(m.faces), tuple(np.round(m.extents, 3))) for m, _ in shapes}
        assert len(signatures) == 4, name
        again, _ = generate_object(name, 2)
        assert np.array_equal(again.vertices, shapes[2][0].vertices)
    with pytest.raises(ValueError):
        generate_object("spaceship", 0)


# --------------------------------------------------------------------------------------------- files
def test_write_room_writes_loadable_files(tmp_path, room, scan):
    paths = write_room(room, scan, tmp_path / "out", "r5", ScannerConfig())
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["r5.json", "r5_mesh.ply", "r5_scan.ply"]
    back = load(paths["scan"])
    assert np.array_equal(back.labels, scan.labels) and np.allclose(back.points, scan.points)
    assert back.label_set.name == "scannet20"
    mesh = load(paths["mesh"])
    assert mesh.has_faces and len(mesh.mesh.faces) == len(room.mesh.faces)
    assert np.array_equal(mesh.labels, np.repeat(room.face_labels, 3))
    meta = json.loads(paths["json"].read_text())
    assert meta["seed"] == 5 and meta["label_set"] == "scannet20" and meta["scan"]["points"] == len(scan.points)
    assert len(meta["objects"]) == len(room.objects) and meta["config"]["room_type"] == "random"
