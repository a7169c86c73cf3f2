"""Loaders on every real file in ../shared/data, round trips, and one test per kind of bad input."""
from __future__ import annotations

import numpy as np
import pytest
import trimesh
from conftest import SHARED_DATA, shared_file

from nir_core.data.io import LoadLimits, find_scans, load, save_scan
from nir_core.data.labels import IGNORE_LABEL, S3DIS13, SCANNET20, SHAPENETPART50, generic_label_set
from nir_core.data.scan import Scan
from nir_core.errors import (
    CorruptFileError,
    InvalidScanError,
    MeshRequiredError,
    MissingFileError,
    ScanLoadError,
    ScanTooLargeError,
    UnsupportedFormatError,
)

REAL_SCANS = find_scans(SHARED_DATA) if SHARED_DATA.is_dir() else []


def test_shared_data_has_every_family(shared_data):
    suffixes = {p.suffix for p in REAL_SCANS}
    assert {".obj", ".off", ".npy", ".npz", ".txt", ".bin"} <= suffixes
    assert len(REAL_SCANS) >= 45


@pytest.mark.parametrize("path", REAL_SCANS, ids=lambda p: f"{p.parent.name}/{p.name}")
@pytest.mark.slow
def test_every_real_file_loads(path):
    scan = load(path)
    assert scan.points.dtype == np.float32 and scan.points.shape[1] == 3 and len(scan) >= 4
    assert np.isfinite(scan.points).all()
    assert scan.source == path
    if scan.labels is not None:
        assert len(scan.labels) == len(scan) and scan.label_set is not None
        assert scan.labels.max() < len(scan.label_set)
    if scan.colors is not None:
        assert scan.colors.dtype == np.uint8 and scan.colors.shape == (len(scan), 3)


def test_scannet_votenet_maps_nyu40_to_scannet20():
    scan = load(shared_file("scannet_votenet_50k", "scene0001_00_sem_label.npy"))  # any file of the scene
    assert len(scan) == 50_000 and scan.label_set is SCANNET20
    nyu40 = scan.extra["nyu40"]
    wall = nyu40 == 1
    assert (scan.labels[wall] == SCANNET20.index("wall")).all()
    assert (scan.labels[nyu40 == 0] == IGNORE_LABEL).all()
    assert (scan.labels[nyu40 == 38] == IGNORE_LABEL).all()  # otherstructure is not a benchmark class
    assert (scan.labels[nyu40 == 39] == SCANNET20.index("otherfurniture")).all()
    assert 0 < scan.colors.mean() < 255


def test_scannet_fullres_folder_loads_as_one_scene():
    scan = load(shared_file("scannet_scene0000_00_fullres"))
    assert len(scan) == 81_369 and scan.extra["scene"] == "scene0000_00"
    assert set(scan.label_histogram()) >= {"wall", "floor", "bed"}
    assert len(scan.extra["instances"]) == len(scan)


def test_s3dis_bin_layout():
    scan = load(shared_file("s3dis_mmdet3d_test_fixture_100pts", "Area_1_office_2_semantic_mask.bin"))
    assert len(scan) == 100 and scan.label_set is S3DIS13 and scan.colors is not None


def test_shapenetpart_npz_and_txt_agree():
    a = load(shared_file("shapenetpart_pointtree_7cls", "Chair.npz"))
    b = load(shared_file("shapenetpart_pointtree_7cls", "Chair.txt"))
    assert a.label_set is SHAPENETPART50 and b.label_set is SHAPENETPART50
    assert a.extra["category"] == b.extra["category"] == "Chair"
    np.testing.assert_allclose(a.points, b.points, atol=1e-5)
    np.testing.assert_array_equal(a.labels, b.labels)
    assert set(np.unique(a.labels)) <= {12, 13, 14, 15}


def test_modelnet_broken_off_header_and_class_folder():
    path = shared_file("modelnet40_samples", "bathtub", "bathtub_0001.off")
    assert path.read_bytes().startswith(b"OFF3514 3546 0")
    scan = load(path)
    assert len(scan) == 3514 and len(scan.mesh.faces) == 3546
    assert scan.extra["category"] == "bathtub" and scan.extra["class_id"] == 1


def test_obj_texture_seams_are_merged():
    scan = load(shared_file("classic_meshes", "spot.obj"))
    assert (len(scan.mesh.vertices), len(scan.mesh.faces)) == (2930, 5856)
    assert scan.mesh.is_watertight


def test_folder_with_many_scans_is_refused_with_the_count(shared_data):
    with pytest.raises(UnsupportedFormatError, match="9 scans"):
        load(shared_data / "scannet_votenet_50k")


def _room(n=50, seed=0, faces=False) -> Scan:
    rng = np.random.default_rng(seed)
    if faces:
        mesh = trimesh.creation.box(extents=(2.0, 1.0, 0.5))
        n = len(mesh.vertices)
        return Scan(points=mesh.vertices.astype(np.float32), mesh=mesh,
                    colors=rng.integers(0, 255, (n, 3), dtype=np.uint8),
                    labels=rng.integers(-1, 20, n), label_set=SCANNET20)
    return Scan(points=rng.normal(size=(n, 3)).astype(np.float32),
                colors=rng.integers(0, 255, (n, 3), dtype=np.uint8),
                normals=rng.normal(size=(n, 3)).astype(np.float32),
                labels=rng.integers(-1, 20, n), label_set=SCANNET20)


@pytest.mark.parametrize("ext", [".ply", ".npz"])
def test_points_round_trip(tmp_path, ext):
    scan = _room()
    back = load(save_scan(scan, tmp_path / f"room{ext}"))
    np.testing.assert_allclose(back.points, scan.points)
    np.testing.assert_array_equal(back.colors, scan.colors)
    np.testing.assert_allclose(back.normals, scan.normals)
    np.testing.assert_array_equal(back.labels, scan.labels)
    if ext == ".ply":
        assert back.label_set == SCANNET20


@pytest.mark.parametrize("ext", [".ply", ".obj", ".off", ".stl", ".glb"])
def test_mesh_round_trip(tmp_path, ext):
    scan = _room(faces=True)
    back = load(save_scan(scan, tmp_path / f"box{ext}"), require_faces=True)
    assert len(back.mesh.faces) == 12
    assert np.isclose(back.mesh.area, scan.mesh.area)
    if ext == ".ply":
        np.testing.assert_array_equal(back.labels, scan.labels)


def test_glb_has_vertex_normals_and_a_double_sided_non_metallic_material(tmp_path):
    import json
    import struct

    data = save_scan(_room(faces=True), tmp_path / "box.glb").read_bytes()
    (json_length,) = struct.unpack("<I", data[12:16])  # GLB: 12-byte header, then the JSON chunk
    tree = json.loads(data[20:20 + json_length])
    primitive = tree["meshes"][0]["primitives"][0]
    assert {"POSITION", "NORMAL", "COLOR_0"} <= set(primitive["attributes"])
    material = tree["materials"][primitive["material"]]
    assert material["doubleSided"] and material["pbrMetallicRoughness"]["metallicFactor"] == 0


def test_ascii_ply_with_quads_is_triangulated(tmp_path):
    path = tmp_path / "quad.ply"
    path.write_text("ply\nformat ascii 1.0\nelement vertex 4\nproperty float x\nproperty float y\nproperty float z\n"
                    "property int label\nelement face 1\nproperty list uchar int vertex_indices\nend_header\n"
                    "0 0 0 1\n1 0 0 1\n1 1 0 2\n0 1 0 2\n4 0 1 2 3\n")
    scan = load(path)
    assert scan.mesh.faces.tolist() == [[0, 1, 2], [0, 2, 3]]
    assert scan.labels.tolist() == [1, 1, 2, 2] and scan.label_set == generic_label_set(3)


@pytest.mark.parametrize("columns, expect", [(3, ()), (4, ("labels",)), (6, ("colors",)), (7, ("colors", "labels"))])
def test_txt_and_npy_column_layouts(tmp_path, columns, expect):
    rng = np.random.default_rng(1)
    table = rng.uniform(0, 1, (20, columns))
    if "labels" in expect:
        table[:, -1] = rng.integers(0, 5, 20)
    np.savetxt(tmp_path / "p.txt", table)
    np.save(tmp_path / "p.npy", table)
    for name in ("p.txt", "p.npy"):
        scan = load(tmp_path / name)
        assert (scan.colors is not None) == ("colors" in expect)
        assert (scan.labels is not None) == ("labels" in expect)


# ----- bad input: one clear ScanLoadError naming the file and the reason ---------------------------------

def _assert_names_file(err, path):
    assert str(path) in str(err.value) and err.value.reason


def test_missing_path(tmp_path):
    with pytest.raises(MissingFileError) as err:
        load(tmp_path / "nope.ply")
    _assert_names_file(err, tmp_path / "nope.ply")


def test_directory_without_scans(tmp_path):
    (tmp_path / "notes.md").write_text("hello")
    with pytest.raises(UnsupportedFormatError, match="no scan") as err:
        load(tmp_path)
    _assert_names_file(err, tmp_path)


def test_empty_file(tmp_path):
    path = tmp_path / "empty.ply"
    path.write_bytes(b"")
    with pytest.raises(CorruptFileError, match="empty") as err:
        load(path)
    _assert_names_file(err, path)


def test_truncated_binary_ply(tmp_path):
    good = save_scan(_room(200), tmp_path / "good.ply").read_bytes()
    path = tmp_path / "cut.ply"
    path.write_bytes(good[: len(good) // 2])
    with pytest.raises(CorruptFileError, match="truncated") as err:
        load(path)
    _assert_names_file(err, path)


def test_corrupt_ply_header(tmp_path):
    path = tmp_path / "bad.ply"
    path.write_bytes(b"ply\nformat binary_little_endian 1.0\nelement vertex ten\nend_header\n")
    with pytest.raises(CorruptFileError, match="element") as err:
        load(path)
    _assert_names_file(err, path)


def test_not_a_ply(tmp_path):
    path = tmp_path / "image.ply"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(100))
    with pytest.raises(CorruptFileError, match="not a PLY"):
        load(path)


def test_unknown_extension(tmp_path):
    path = tmp_path / "scan.xyzrgb"
    path.write_text("0 0 0\n")
    with pytest.raises(UnsupportedFormatError, match="unknown file type") as err:
        load(path)
    _assert_names_file(err, path)


def test_nan_coordinates(tmp_path):
    table = np.random.default_rng(0).normal(size=(10, 3))
    table[3, 1] = np.nan
    table[5, 0] = np.inf
    path = tmp_path / "nan.npy"
    np.save(path, table)
    with pytest.raises(InvalidScanError, match="2 of 10 points have NaN or infinite") as err:
        load(path)
    _assert_names_file(err, path)


def test_fewer_than_four_points(tmp_path):
    path = tmp_path / "three.txt"
    path.write_text("0 0 0\n1 0 0\n0 1 0\n")
    with pytest.raises(InvalidScanError, match="only 3 point"):
        load(path)


def test_label_length_mismatch(tmp_path):
    path = tmp_path / "mismatch.npz"
    np.savez(path, points=np.zeros((10, 3), np.float32), labels=np.zeros(9, np.int64))
    with pytest.raises(InvalidScanError, match="9 labels for 10 points") as err:
        load(path)
    _assert_names_file(err, path)


def test_scannet_label_file_of_the_wrong_length(tmp_path):
    rng = np.random.default_rng(0)
    np.save(tmp_path / "scene0042_00_vert.npy", rng.normal(size=(10, 6)).astype(np.float32))
    np.save(tmp_path / "scene0042_00_sem_label.npy", np.ones(7, np.uint32))
    with pytest.raises(InvalidScanError, match="7 labels for 10 points"):
        load(tmp_path / "scene0042_00_vert.npy")


def test_mesh_required_but_points_only(tmp_path):
    path = save_scan(_room(), tmp_path / "points.ply")
    with pytest.raises(MeshRequiredError, match="mesh with faces is required") as err:
        load(path, require_faces=True)
    _assert_names_file(err, path)


def test_absurd_vertex_count_is_refused_before_reading(tmp_path):
    path = tmp_path / "huge.ply"
    path.write_bytes(b"ply\nformat binary_little_endian 1.0\nelement vertex 1000000000000\n"
                     b"property float x\nproperty float y\nproperty float z\nend_header\n" + bytes(120))
    with pytest.raises(ScanTooLargeError, match="above the limit") as err:
        load(path)
    _assert_names_file(err, path)


def test_file_size_limit(tmp_path):
    path = save_scan(_room(100), tmp_path / "room.ply")
    with pytest.raises(ScanTooLargeError, match="GiB"):
        load(path, limits=LoadLimits(max_file_bytes=1000))


def test_corrupt_obj_and_npz(tmp_path):
    npz = tmp_path / "broken.npz"
    npz.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(CorruptFileError):
        load(npz)
    glb = tmp_path / "broken.glb"
    glb.write_bytes(b"glTF" + bytes(40))
    with pytest.raises(ScanLoadError):
        load(glb)


def test_truncated_off(tmp_path):
    path = tmp_path / "cut.off"
    path.write_text("OFF\n8 12 0\n0 0 0\n1 0 0\n")
    with pytest.raises(CorruptFileError, match="truncated"):
        load(path)
