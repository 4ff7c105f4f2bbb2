"""Training data set: stills of simulated worlds from drone and vehicle cameras, in Ultralytics YOLO layout.

A share ``platform_mix`` of the stills comes from a forward vehicle camera on a
lane (1.2-2.5 m up, pitched 10-35 degrees down, looking along the road), the
rest from drones: mostly nadir, some low and oblique. Each still gets a random
look: exposure, colour temperature, shadows (trees and buildings in the world,
soft bands on the image), wet asphalt, motion blur along the direction of
travel, sensor noise and JPEG.

Writes ``images/{train,val}/*.jpg``, ``labels/{train,val}/*.txt`` (``class xc yc w h``
normalised) and ``data.yaml`` whose ``names`` are the taxonomy keys of
:data:`hardware.sim.classes.SIM_CLASSES` in that order. Validation images come
from worlds (seeds) that training never sees.

Example:
    >>> from pathlib import Path; import tempfile
    >>> tmp = Path(tempfile.mkdtemp())
    >>> out = generate_dataset(tmp, n_train=2, n_val=1, seed=0, imgsz=160, progress=False)
    >>> sorted(p.name for p in out.iterdir())
    ['data.yaml', 'images', 'labels']
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from pathlib import Path

import cv2
import numpy as np
import yaml
from rich.progress import Progress

from hardware import load_camera_profile
from hardware.sim.blur import travel_blur, travel_flow
from hardware.sim.camera import CameraPose, image_to_ground
from hardware.sim.classes import SIM_CLASSES
from hardware.sim.labels import visible_objects
from hardware.sim.photometric import Photometric, apply_photometric
from hardware.sim.render import render_view
from hardware.sim.road import RoadSpec
from hardware.sim.wet import pixel_ground_view, wet_asphalt
from hardware.sim.world import World, WorldSpec, build_world
from taxonomy import load_taxonomy

IMAGES_PER_WORLD = 50
MIN_VISIBLE = 0.6  # share of the footprint inside the image
MIN_BOX_PX = 6.0  # longest box side at the saved size
EMPTY_SHARE = 0.07  # stills with no object at all
MIN_FEATURE_PX = 0.15  # cracks thinner than this hardly darken a pixel: not labelled
MIN_SHORT_SIDE_PX = 4.0  # far objects seen edge-on (a few pixels tall) are not learnable: not labelled
PLATFORM_MIX = 0.4  # default share of vehicle stills
OBLIQUE_DRONE_SHARE = 0.25  # of the drone stills: low (8-25 m) and oblique (pitch -25..-60)
WET_SHARE = 0.2  # stills on wet asphalt
TRAVEL_BLUR_SHARE = 0.45  # stills with motion blur along the direction of travel
VEHICLE_LOOKAHEAD_M = 40.0  # road left ahead of a vehicle still (the ortho ends beyond it)
DRONE_CAMERA = "dji_m3e_wide"
VEHICLE_CAMERA = "vehicle_dashcam_1080p"


class DatasetError(ValueError):
    """Bad data-set parameters."""


@dataclass(frozen=True, slots=True)
class _Still:
    pose: CameraPose
    focal_scale: float
    platform: str = "drone"  # "drone" or "vehicle": which camera profile
    travel_heading_deg: float = 0.0  # direction of motion (for motion blur)
    oblique: bool = False  # may see the horizon: only the near half of the view must be on the ortho
    max_travel_m: float = 0.15  # platform motion during a long exposure


def _dataset_world(seed: int) -> World:
    rng = np.random.default_rng(seed)
    road = RoadSpec(
        length_m=float(rng.uniform(90.0, 120.0)),
        heading_deg=float(rng.uniform(0, 360)),
        curvature_deg_per_100m=float(rng.choice([0.0, rng.uniform(-15, 15)])),
        lanes_per_direction=int(rng.choice([1, 2, 2, 3])),
        lane_width_m=float(rng.uniform(3.0, 3.75)),
        sidewalk_m=float(rng.uniform(2.0, 4.5)),
        verge_m=30.0,  # wide enough for a 60 m nadir view across the road
    )
    counts = {k: int(rng.integers(2, 5)) for k in SIM_CLASSES}
    return build_world(WorldSpec(road=road, gsd=0.025, objects_per_class=counts, n_distractors=22), seed=seed)


def _drone_still(world: World, rng: np.random.Generator) -> _Still:
    road = world.road
    spec = road.spec
    L = spec.length_m
    s = float(rng.uniform(0.1 * L, 0.9 * L))
    heading = float(np.degrees(road.heading(s)))
    if rng.random() < EMPTY_SHARE:
        # a low nadir shot of the verge, the long image side along the road: no objects in view
        side = float(rng.choice([-1.0, 1.0]))
        target = road.point(s, side * (spec.half_width_m + spec.kerb_m + spec.sidewalk_m + 9.0))
        pose = CameraPose(
            float(target[0]),
            float(target[1]),
            float(rng.uniform(20.0, 26.0)),
            (heading + 90.0 + rng.normal(0, 3)) % 360.0,
            -90.0 + float(rng.uniform(0, 4)),
        )
        return _Still(pose, float(rng.uniform(1.0, 1.3)), travel_heading_deg=heading)
    t = float(rng.normal(0.0, spec.half_width_m / 2))
    target = road.point(s, t)
    oblique = bool(rng.random() < OBLIQUE_DRONE_SHARE)
    if oblique:  # a low pass with the gimbal tilted up, as for a look under trees or along a street
        height = float(rng.uniform(8.0, 25.0))
        pitch = float(rng.uniform(-60.0, -25.0))
    else:
        height = float(20.0 + 40.0 * rng.random() ** 1.5)  # more low passes than high ones
        pitch = float(-90.0 + rng.uniform(0, 12)) if rng.random() < 0.55 else float(rng.uniform(-90.0, -45.0))
    r = rng.random()
    if r < 0.5:
        yaw = heading + rng.normal(0, 10)  # flying along the road
    elif r < 0.65:
        yaw = heading + 180 + rng.normal(0, 10)
    elif r < 0.8:
        yaw = heading + 90 * rng.choice([-1, 1]) + rng.normal(0, 10)
    else:
        yaw = rng.uniform(0, 360)
    # place the camera so the image centre looks at the target
    back = height / math.tan(math.radians(-pitch))
    ya = math.radians(yaw)
    x = float(target[0] - back * math.sin(ya))
    y = float(target[1] - back * math.cos(ya))
    pose = CameraPose(x, y, height, yaw % 360.0, pitch, float(rng.normal(0, 1.5)))
    # a drone mostly flies where its camera looks; sometimes sideways along the road
    travel = yaw if rng.random() < 0.7 else heading + 180.0 * float(rng.integers(0, 2))
    return _Still(pose, float(rng.uniform(0.85, 1.3)), travel_heading_deg=travel % 360.0, oblique=oblique)


def _vehicle_still(world: World, rng: np.random.Generator) -> _Still:
    """A forward roof or dashboard camera on a lane, looking along the road (right-hand traffic)."""
    road = world.road
    spec = road.spec
    L = spec.length_m
    forward = bool(rng.random() < 0.5)  # along increasing s (right of the centre line) or back
    lane = int(rng.integers(spec.lanes_per_direction))
    t = (lane + 0.5) * spec.lane_width_m + float(rng.normal(0.0, 0.3))
    ahead = min(VEHICLE_LOOKAHEAD_M, 0.45 * L)
    if forward:
        s = float(rng.uniform(0.02 * L, L - ahead))
    else:
        s, t = float(rng.uniform(ahead, 0.98 * L)), -t
    xy = road.point(s, t)
    heading = float(np.degrees(road.heading(s))) + (0.0 if forward else 180.0)
    yaw = heading + float(rng.normal(0.0, 2.5))  # lane changes, mounting error
    pose = CameraPose(
        float(xy[0]),
        float(xy[1]),
        float(rng.uniform(1.2, 2.5)),
        yaw % 360.0,
        float(rng.uniform(-35.0, -10.0)),
        float(rng.normal(0.0, 1.5)),  # road camber, body roll
    )
    return _Still(pose, float(rng.uniform(0.8, 1.25)), "vehicle", heading % 360.0, True, 0.3)


def _inside_world(
    world: World, K: np.ndarray, pose: CameraPose, width: int, height: int, *, near_half: bool = False
) -> bool:
    """Whether the ground seen by the image corners lies on the orthophoto (with a 3 % tolerance).

    With ``near_half`` (oblique views that may see the horizon) only the lower half of the image
    must see the ortho; farther ground fades into haze over a plain fill.
    """
    top = height / 2 if near_half else 0.0
    corners = np.array([[0.0, top], [width, top], [0.0, height], [width, height]])
    ground, hits = image_to_ground(K, pose, corners)
    if not hits.all():
        return False
    px = world.frame.to_px(ground)
    tol_w, tol_h = 0.03 * world.frame.width, 0.03 * world.frame.height
    return bool(
        np.all(
            (px[:, 0] >= -tol_w)
            & (px[:, 0] <= world.frame.width + tol_w)
            & (px[:, 1] >= -tol_h)
            & (px[:, 1] <= world.frame.height + tol_h)
        )
    )


def _label_lines(world: World, K: np.ndarray, pose: CameraPose, width: int, height: int) -> list[str]:
    index = {k: i for i, k in enumerate(SIM_CLASSES)}
    lines = []
    for v in visible_objects(world.objects, K, pose, width, height, min_visible=MIN_VISIBLE):
        x1, y1, x2, y2 = v.box
        if max(x2 - x1, y2 - y1) < MIN_BOX_PX or v.feature_px < MIN_FEATURE_PX:
            continue
        if min(x2 - x1, y2 - y1) < MIN_SHORT_SIDE_PX:
            continue
        lines.append(
            f"{index[v.obj.class_key]} {(x1 + x2) / 2 / width:.6f} {(y1 + y2) / 2 / height:.6f} "
            f"{(x2 - x1) / width:.6f} {(y2 - y1) / height:.6f}"
        )
    return lines


def _write_data_yaml(out_dir: Path) -> None:
    tax = load_taxonomy()
    data = {
        "path": str(out_dir.resolve()),
        "train": "images/train",
        "val": "images/val",
        "names": dict(enumerate(SIM_CLASSES)),
        "taxonomy_ids": [tax.by_key[k].id for k in SIM_CLASSES],
    }
    header = "# roadsight simulated road-defect data set; names are taxonomy keys (hardware/sim/classes.py)\n"
    (out_dir / "data.yaml").write_text(header + yaml.safe_dump(data, sort_keys=False), encoding="utf-8")


def _render_still(
    world: World, K: np.ndarray, still: _Still, width: int, height: int, rng: np.random.Generator
) -> np.ndarray:
    """The view of ``still`` with a random look: wet asphalt, motion blur, then the camera's photometry."""
    image = render_view(world, K, still.pose, width, height)
    if rng.random() < WET_SHARE:
        view = pixel_ground_view(world, K, still.pose, width, height)
        image = wet_asphalt(image, view, wetness=float(rng.uniform(0.3, 0.9)), rng=rng)
    look = Photometric.random(rng)
    if rng.random() < TRAVEL_BLUR_SHARE:
        flow = travel_flow(
            K,
            still.pose,
            heading_deg=still.travel_heading_deg,
            travel_m=float(rng.uniform(0.02, still.max_travel_m)),
            width=width,
            height=height,
            max_px=0.04 * width,
        )
        image = travel_blur(image, flow)
        look = replace(look, motion_blur_px=0.0)  # one blur is enough
    return apply_photometric(image, look, rng)


def generate_dataset(
    out_dir: Path,
    *,
    n_train: int,
    n_val: int,
    seed: int,
    imgsz: int = 640,
    platform_mix: float = PLATFORM_MIX,
    progress: bool = True,
) -> Path:
    """Render ``n_train`` + ``n_val`` labelled stills into ``out_dir`` and return it.

    Images are 16:9 with the long side ``imgsz``. A share ``platform_mix`` (0..1)
    are vehicle stills (``vehicle_dashcam_1080p`` intrinsics, focal length
    -20..+25 %, 1.2-2.5 m up, pitch -35..-10 degrees, on a lane looking along the
    road); the rest are drone stills (DJI M3E wide camera, focal length -15..+30 %):
    altitudes 20-60 m at pitch -90..-45 degrees, or 8-25 m at -60..-25 degrees,
    yaw mostly along or across the road. Random lighting, colour temperature,
    shadows, wet asphalt, motion blur, noise and JPEG. File names end in the
    platform (``..._drone``, ``..._vehicle``).
    """
    if n_train < 0 or n_val < 0 or n_train + n_val == 0:
        raise DatasetError(f"n_train={n_train}, n_val={n_val}: need a positive number of images")
    if imgsz < 64:
        raise DatasetError(f"imgsz={imgsz}: too small (at least 64)")
    if not 0.0 <= platform_mix <= 1.0:
        raise DatasetError(f"platform_mix={platform_mix}: the share of vehicle stills must be in 0..1")
    out_dir = Path(out_dir)
    width, height = imgsz, round(imgsz * 9 / 16 / 2) * 2
    cameras = {
        "drone": load_camera_profile(DRONE_CAMERA).intrinsics(width, height),
        "vehicle": load_camera_profile(VEHICLE_CAMERA).intrinsics(width, height),
    }
    for split in ("train", "val"):
        (out_dir / "images" / split).mkdir(parents=True, exist_ok=True)
        (out_dir / "labels" / split).mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    jobs = [("train", i) for i in range(n_train)] + [("val", i) for i in range(n_val)]
    world: World | None = None
    world_split = ""
    made = 0
    with Progress(disable=not progress, transient=True) as bar:
        task = bar.add_task("rendering data set", total=len(jobs))
        for split, i in jobs:
            if world is None or made >= IMAGES_PER_WORLD or split != world_split:
                world = _dataset_world(int(rng.integers(2**31)))
                world_split, made = split, 0
            vehicle = bool(rng.random() < platform_mix)
            for _attempt in range(8):  # prefer views that stay on the modelled corridor
                still = _vehicle_still(world, rng) if vehicle else _drone_still(world, rng)
                K = cameras[still.platform].copy()
                K[0, 0] *= still.focal_scale
                K[1, 1] *= still.focal_scale
                if _inside_world(world, K, still.pose, width, height, near_half=still.oblique):
                    break
            image = _render_still(world, K, still, width, height, rng)
            labels = _label_lines(world, K, still.pose, width, height)
            name = f"sim_{seed}_{split}_{i:06d}_{still.platform}"
            cv2.imwrite(
                str(out_dir / "images" / split / f"{name}.jpg"), image, [cv2.IMWRITE_JPEG_QUALITY, 92]
            )
            (out_dir / "labels" / split / f"{name}.txt").write_text(
                "\n".join(labels) + ("\n" if labels else "")
            )
            made += 1
            bar.advance(task)
    _write_data_yaml(out_dir)
    return out_dir
