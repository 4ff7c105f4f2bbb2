"""A georeferenced road-corridor orthophoto with painted objects and their ground truth.

The local frame is a transverse Mercator projection centred on the scenario
origin (x east, y true north, metres); the road's middle is the origin.

Example:
    >>> world = build_world(WorldSpec(road=RoadSpec(length_m=20.0, verge_m=1.0), gsd=0.05,
    ...                               objects_per_class={"pothole": 1}, n_distractors=0), seed=1)
    >>> [o.class_key for o in world.objects]
    ['pothole']
    >>> world.image.shape[2], world.image.dtype.name
    (3, 'uint8')
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from dataclasses import dataclass, field

import cv2
import numpy as np
from pyproj import CRS, Transformer
from shapely.geometry import Polygon

from hardware.sim.classes import CLASS_SIZES_M, SIM_CLASSES, near_kerb
from hardware.sim.defects import CLASS_PAINTERS
from hardware.sim.distractors import DISTRACTOR_PAINTERS
from hardware.sim.ortho import OrthoFrame
from hardware.sim.paint import PaintContext
from hardware.sim.road import Road, RoadSpec
from hardware.sim.shade import paint_building_shadows
from hardware.sim.surface import paint_surface
from hardware.sim.trees import paint_trees
from taxonomy import load_taxonomy

DEFAULT_ORIGIN = (30.2741, 120.1551)  # lat, lon (Hangzhou)


class WorldError(ValueError):
    """A world specification that cannot be built."""


@dataclass(frozen=True, slots=True)
class WorldSpec:
    """Everything that shapes a world; the seed picks the rest."""

    road: RoadSpec = field(default_factory=RoadSpec)
    gsd: float = 0.02  # metres per ortho pixel
    objects_per_class: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SIM_CLASSES, 2))
    n_distractors: int = 12
    origin_lat: float = DEFAULT_ORIGIN[0]
    origin_lon: float = DEFAULT_ORIGIN[1]
    ground_elevation_m: float = 12.0  # metres above mean sea level
    end_margin_m: float = 8.0  # no objects this close to the road's ends
    trees: bool = True
    building_shadows: bool = True


@dataclass(frozen=True, slots=True)
class GroundTruthObject:
    """One painted object: where it is (local metres) and what it is."""

    object_id: str
    class_key: str
    class_id: int
    center_xy: tuple[float, float]  # anchor: the footprint's centroid
    footprint_xy: tuple[tuple[float, float], ...]
    size_m: float
    feature_m: float  # finest visible feature (crack width), for visibility tests


def local_crs(lat: float, lon: float) -> str:
    """PROJ string of the local transverse Mercator frame centred at ``lat, lon``."""
    return f"+proj=tmerc +lat_0={lat} +lon_0={lon} +k=1 +x_0=0 +y_0=0 +ellps=WGS84 +units=m +no_defs"


@dataclass
class World:
    """The orthophoto (``image``, BGR) in its raster ``frame``, the road and the painted objects."""

    spec: WorldSpec
    seed: int
    road: Road
    frame: OrthoFrame
    image: np.ndarray = field(repr=False)
    objects: list[GroundTruthObject]
    distractors: list[GroundTruthObject]
    _pyr: list[np.ndarray] = field(default_factory=list, init=False, repr=False)

    @property
    def crs(self) -> str:
        return local_crs(self.spec.origin_lat, self.spec.origin_lon)

    @functools.cached_property
    def _to_wgs84(self) -> Transformer:
        return Transformer.from_crs(CRS.from_proj4(self.crs), CRS.from_epsg(4326), always_xy=True)

    @functools.cached_property
    def _from_wgs84(self) -> Transformer:
        return Transformer.from_crs(CRS.from_epsg(4326), CRS.from_proj4(self.crs), always_xy=True)

    def to_lonlat(self, xy: np.ndarray) -> np.ndarray:
        """Local metres ``(n, 2)`` to WGS84 ``(n, 2)`` longitude, latitude."""
        pts = np.asarray(xy, dtype=np.float64).reshape(-1, 2)
        lon, lat = self._to_wgs84.transform(pts[:, 0], pts[:, 1])
        return np.column_stack([lon, lat])

    def to_local(self, lonlat: np.ndarray) -> np.ndarray:
        pts = np.asarray(lonlat, dtype=np.float64).reshape(-1, 2)
        x, y = self._from_wgs84.transform(pts[:, 0], pts[:, 1])
        return np.column_stack([x, y])

    def pyramid(self, level: int) -> np.ndarray:
        """The ortho reduced ``level`` times by ``cv2.pyrDown`` (cached)."""
        if not self._pyr:
            self._pyr.append(self.image)
        while len(self._pyr) <= level:
            self._pyr.append(cv2.pyrDown(self._pyr[-1]))
        return self._pyr[level]


def _sample_pose(
    road: Road, key: str, size: float, spec: WorldSpec, rng: np.random.Generator
) -> tuple[float, float]:
    hw = spec.road.half_width_m
    radius = 0.65 * size
    s = float(rng.uniform(spec.end_margin_m, spec.road.length_m - spec.end_margin_m))
    lim = max(0.0, hw - radius - 0.15)
    if near_kerb(key) and rng.random() < 0.6:
        t = float(rng.choice([-1.0, 1.0]) * rng.uniform(max(0.0, lim - 0.8), lim))
    else:
        t = float(rng.uniform(-lim, lim))
    return s, t


def build_world(
    spec: WorldSpec, seed: int, accept: Callable[[np.ndarray, float], bool] | None = None
) -> World:
    """Paint the corridor, then the objects and distractors at non-overlapping random places.

    ``accept(centre_xy, radius_m)`` may veto a place for a class object (e.g. one
    that a planned flight would not see fully); distractors go anywhere.
    """
    for key in spec.objects_per_class:
        if key not in CLASS_PAINTERS:
            raise WorldError(
                f"objects_per_class: unknown simulated class {key!r} (known: {', '.join(SIM_CLASSES)})"
            )
    rng = np.random.default_rng(seed)
    road = Road(spec.road)
    chord = road.chord_heading()
    # extent of the corridor in the chord-aligned frame
    edge = np.vstack(
        [road.band(-spec.road.half_corridor_m, spec.road.half_corridor_m, 0.0, spec.road.length_m, step=5.0)]
    )
    a = np.array([math.sin(chord), math.cos(chord)])
    n = np.array([math.cos(chord), -math.sin(chord)])
    along, across = edge @ a, edge @ n
    half = spec.road.half_corridor_m
    frame = OrthoFrame.aligned(
        chord,
        spec.gsd,
        (float(along.min()), float(along.max())),
        (float(max(across.min(), -3 * half)), float(min(across.max(), 3 * half))),
        (0.0, 0.0),
    )
    if frame.width * frame.height > 60_000_000:
        raise WorldError(
            f"road: corridor of {frame.width}x{frame.height} px is too large; shorten it or raise gsd"
        )
    image = paint_surface(road, frame, rng)

    sun = rng.uniform(0, 2 * np.pi)
    shadow_dir = np.array([math.sin(sun), math.cos(sun)])
    if spec.trees:
        paint_trees(image, frame, road, shadow_dir, rng)
    taxonomy = load_taxonomy()
    placed: list[tuple[np.ndarray, float]] = []
    plan: list[tuple[str, bool]] = [(k, True) for k, c in spec.objects_per_class.items() for _ in range(c)]
    names = list(DISTRACTOR_PAINTERS)
    plan += [(names[int(rng.integers(len(names)))], False) for _ in range(spec.n_distractors)]
    order = rng.permutation(len(plan))
    objects: list[GroundTruthObject] = []
    distractors: list[GroundTruthObject] = []
    for idx in order:
        key, is_class = plan[idx]
        lo, hi = CLASS_SIZES_M[key] if is_class else DISTRACTOR_PAINTERS[key][1]
        size = float(rng.uniform(lo, hi))
        for _attempt in range(200):
            s, t = _sample_pose(road, key, size, spec, rng)
            centre = road.point(s, t)
            radius = 0.65 * size
            if accept is not None and is_class and not accept(centre, radius):
                continue
            if all(np.hypot(*(centre - c)) > radius + r + 0.4 for c, r in placed):
                break
        else:
            continue  # no room left; the world simply has fewer objects
        placed.append((centre, radius))
        ctx = PaintContext(image, frame, centre, road.tangent(s)[0], road.normal(s)[0], shadow_dir, rng)
        painter = CLASS_PAINTERS[key] if is_class else DISTRACTOR_PAINTERS[key][0]
        painted = painter(ctx, size)
        fp_local = ctx.to_local(painted.footprint_uv)
        poly = Polygon(fp_local)
        if not poly.is_valid:
            poly = poly.buffer(0)
        c = poly.centroid
        diffs = fp_local[:, None, :] - fp_local[None, :, :]
        size_m = float(np.sqrt((diffs**2).sum(axis=2).max()))  # largest dimension
        record = GroundTruthObject(
            object_id="",
            class_key=key,
            class_id=taxonomy.by_key[key].id if is_class else -1,
            center_xy=(float(c.x), float(c.y)),
            footprint_xy=tuple((float(x), float(y)) for x, y in fp_local),
            size_m=round(size_m, 3),
            feature_m=painted.feature_m,
        )
        (objects if is_class else distractors).append(record)
    if spec.building_shadows:
        paint_building_shadows(image, frame, road, shadow_dir, rng)
    # ids in road order, stable for a seed
    objects.sort(key=lambda o: float(np.dot(o.center_xy, a)))
    objects = [_with_id(o, f"obj-{i:03d}") for i, o in enumerate(objects)]
    distractors = [_with_id(o, f"distractor-{i:03d}") for i, o in enumerate(distractors)]
    return World(spec, seed, road, frame, image, objects, distractors)


def _with_id(obj: GroundTruthObject, object_id: str) -> GroundTruthObject:
    return GroundTruthObject(
        object_id, obj.class_key, obj.class_id, obj.center_xy, obj.footprint_xy, obj.size_m, obj.feature_m
    )
