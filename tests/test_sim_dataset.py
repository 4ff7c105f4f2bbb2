"""The YOLO training data set generator: layout, data.yaml, label format and label geometry."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
import yaml

from hardware import load_camera_profile
from hardware.sim.camera import CameraPose, project_ground_points
from hardware.sim.classes import SIM_CLASSES
from hardware.sim.dataset import (
    MIN_BOX_PX,
    VEHICLE_CAMERA,
    DatasetError,
    _dataset_world,
    _label_lines,
    _vehicle_still,
    generate_dataset,
)
from hardware.sim.road import RoadSpec
from hardware.sim.world import WorldSpec, build_world
from taxonomy import load_taxonomy


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return generate_dataset(
        tmp_path_factory.mktemp("ds"), n_train=8, n_val=3, seed=4, imgsz=320, progress=False
    )


def test_layout_and_data_yaml(dataset: Path):
    data = yaml.safe_load((dataset / "data.yaml").read_text())
    assert data["names"] == dict(enumerate(SIM_CLASSES))
    assert data["train"] == "images/train" and data["val"] == "images/val"
    assert Path(data["path"]) == dataset.resolve()
    tax = load_taxonomy()
    assert data["taxonomy_ids"] == [tax.get(k).id for k in SIM_CLASSES]
    for split, n in (("train", 8), ("val", 3)):
        images = sorted((dataset / "images" / split).glob("*.jpg"))
        assert all(p.stem.endswith(("_drone", "_vehicle")) for p in images)
        labels = sorted((dataset / "labels" / split).glob("*.txt"))
        assert len(images) == len(labels) == n
        assert [p.stem for p in images] == [p.stem for p in labels]
        img = cv2.imread(str(images[0]))
        assert img is not None and img.shape == (180, 320, 3)


def test_labels_are_valid_yolo_boxes(dataset: Path):
    rows = []
    for f in (dataset / "labels").rglob("*.txt"):
        for line in f.read_text().splitlines():
            parts = line.split()
            assert len(parts) == 5, f
            rows.append([float(p) for p in parts])
    arr = np.array(rows)
    assert len(arr) >= 10  # objects are dense in the training worlds
    assert np.all(arr[:, 0] == arr[:, 0].astype(int)) and arr[:, 0].min() >= 0 and arr[:, 0].max() < 9
    xc, yc, w, h = arr[:, 1], arr[:, 2], arr[:, 3], arr[:, 4]
    assert np.all((w > 0) & (h > 0))
    assert np.all((xc - w / 2 >= -1e-6) & (xc + w / 2 <= 1 + 1e-6))
    assert np.all((yc - h / 2 >= -1e-6) & (yc + h / 2 <= 1 + 1e-6))
    assert np.all(np.maximum(w * 320, h * 180) >= 6 - 1e-6)  # tiny boxes are dropped


def test_label_boxes_enclose_the_painted_objects():
    """Render one nadir still: each labelled box must contain its object's projected anchor, and a
    pothole's box must be darker than the road around it (the label sits on the painted pixels)."""
    spec = WorldSpec(
        road=RoadSpec(length_m=30.0, heading_deg=0.0, lanes_per_direction=1, verge_m=3.0),
        gsd=0.03,
        objects_per_class={"pothole": 3, "garbage_pile": 2},
        n_distractors=0,
    )
    world = build_world(spec, seed=8)
    assert len(world.objects) == 5
    K = np.array([[400.0, 0, 320], [0, 400.0, 180], [0, 0, 1]])
    pose = CameraPose(0.0, 0.0, 15.0, yaw_deg=90.0, pitch_deg=-90.0)  # the short road across the image
    from hardware.sim.render import render_view

    img = render_view(world, K, pose, 640, 360).astype(float).mean(axis=2)
    lines = _label_lines(world, K, pose, 640, 360)
    assert len(lines) == 5
    for line in lines:
        c, xc, yc, w, h = (float(v) for v in line.split())
        x1, x2 = int((xc - w / 2) * 640), int(np.ceil((xc + w / 2) * 640))
        y1, y2 = int((yc - h / 2) * 360), int(np.ceil((yc + h / 2) * 360))
        if SIM_CLASSES[int(c)] == "pothole":
            inside = img[y1:y2, x1:x2].mean()
            around = np.concatenate(
                [img[max(0, y1 - 8) : y1, x1:x2].ravel(), img[y2 : y2 + 8, x1:x2].ravel()]
            )
            assert inside < around.mean() - 5
    # every object's projected anchor falls inside a box of its own class
    boxes: list[tuple[str, float, float, float, float]] = []
    for ln in lines:
        c, xc, yc, w, h = (float(x) for x in ln.split())
        boxes.append((SIM_CLASSES[int(c)], xc, yc, w, h))
    anchors, _ = project_ground_points(K, pose, np.array([o.center_xy for o in world.objects]))
    for obj, (u, v) in zip(world.objects, anchors, strict=True):
        assert any(
            key == obj.class_key and abs(u / 640 - bx) <= bw / 2 and abs(v / 360 - by) <= bh / 2
            for key, bx, by, bw, bh in boxes
        ), obj.object_id


def test_vehicle_stills_look_along_a_lane_and_their_labels_sit_on_the_objects():
    """Vehicle stills: a camera 1.2-2.5 m above the asphalt, pitched 10-35 degrees down, looking along
    the road; every label box lies inside the image and holds its object's projected anchor."""
    rng = np.random.default_rng(3)
    K0 = load_camera_profile(VEHICLE_CAMERA).intrinsics(960, 540)
    n_labels = 0
    for world_seed in (11, 12):
        world = _dataset_world(world_seed)
        road = world.road
        index = {o.object_id: o for o in world.objects}
        for _ in range(15):
            still = _vehicle_still(world, rng)
            pose = still.pose
            assert still.platform == "vehicle" and 1.2 <= pose.height <= 2.5 and -35 <= pose.pitch_deg <= -10
            # on the asphalt, heading along the road one way or the other
            s = np.linspace(0, road.spec.length_m, 2001)
            d = np.hypot(*(road.points(s) - [pose.x, pose.y]).T)
            i = int(np.argmin(d))
            assert d[i] < road.spec.half_width_m
            off = (pose.yaw_deg - np.degrees(road.heading(s[i]))) % 180.0
            assert min(off, 180.0 - off) < 12.0
            K = K0.copy()
            K[:2] *= [[still.focal_scale], [still.focal_scale]]
            lines = _label_lines(world, K, pose, 960, 540)
            n_labels += len(lines)
            anchors = {
                oid: project_ground_points(K, pose, np.array([o.center_xy]))[0][0] for oid, o in index.items()
            }
            for line in lines:
                c, xc, yc, w, h = (float(v) for v in line.split())
                x1, x2, y1, y2 = (
                    (xc - w / 2) * 960,
                    (xc + w / 2) * 960,
                    (yc - h / 2) * 540,
                    (yc + h / 2) * 540,
                )
                assert -1e-3 <= x1 < x2 <= 960 + 1e-3 and -1e-3 <= y1 < y2 <= 540 + 1e-3
                assert max(x2 - x1, y2 - y1) >= MIN_BOX_PX - 1e-3
                assert any(
                    o.class_key == SIM_CLASSES[int(c)]
                    and x1 - 1 <= anchors[oid][0] <= x2 + 1
                    and y1 - 1 <= anchors[oid][1] <= y2 + 1
                    for oid, o in index.items()
                ), line
    assert n_labels >= 15  # objects ahead of the vehicle are seen


def test_platform_mix_picks_the_camera(tmp_path: Path):
    vehicle = generate_dataset(
        tmp_path / "v", n_train=4, n_val=0, seed=5, imgsz=320, platform_mix=1.0, progress=False
    )
    drone = generate_dataset(
        tmp_path / "d", n_train=4, n_val=0, seed=5, imgsz=320, platform_mix=0.0, progress=False
    )
    vehicle_images = list((vehicle / "images" / "train").glob("*.jpg"))
    drone_images = list((drone / "images" / "train").glob("*.jpg"))
    assert len(vehicle_images) == len(drone_images) == 4
    assert all(p.stem.endswith("_vehicle") for p in vehicle_images)
    assert all(p.stem.endswith("_drone") for p in drone_images)
    rows = [
        [float(v) for v in line.split()]
        for f in (vehicle / "labels" / "train").glob("*.txt")
        for line in f.read_text().splitlines()
    ]
    arr = np.array(rows).reshape(-1, 5)
    assert len(arr) >= 1
    assert np.all(arr[:, 1:3] - arr[:, 3:5] / 2 >= -1e-6) and np.all(
        arr[:, 1:3] + arr[:, 3:5] / 2 <= 1 + 1e-6
    )


def test_bad_parameters_are_clear_errors(tmp_path: Path):
    with pytest.raises(DatasetError, match="n_train=0, n_val=0"):
        generate_dataset(tmp_path, n_train=0, n_val=0, seed=1)
    with pytest.raises(DatasetError, match="imgsz=10"):
        generate_dataset(tmp_path, n_train=1, n_val=0, seed=1, imgsz=10)
    with pytest.raises(DatasetError, match=r"platform_mix=1\.5"):
        generate_dataset(tmp_path, n_train=1, n_val=0, seed=1, platform_mix=1.5)
