"""Ray-terrain intersection on a DEM GeoTIFF against exact ground truth.

The simulator renders flat ground, so terrain is tested on its own: a smooth
analytic surface (a slope with a hill and a hollow) is written as GeoTIFF DEMs
(UTM 51N and WGS84 grids). Ground-truth points are taken *on the analytic
surface*; each is turned into the pixel that sees it from a known camera
(exact pinhole projection of the camera-to-point vector, occluded points
left out), and the production code (``georeference_arrays`` with a
:class:`Terrain`) must bring the pixel back to the point. This proves the
march/bisection finds the first surface crossing, the DEM CRS is handled by an
explicit transformation, camera elevations are placed as documented
(take-off elevation + height, vehicle on the terrain), and that telemetry noise
propagates to metre-level errors, not to wrong pins; it does not test the
DEM's own accuracy against a real terrain.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyproj
import pytest
import shapely
from fixtures_geo import GEOD, ORIGIN_LAT, ORIGIN_LON, T0, pinhole

from capture import Pose
from geo import CameraModel, CameraPoses, GeoError, GeoreferenceStats, frame_footprints, georeference_arrays
from geo.camera import axes_matrix, mounted_axes
from geo.dem import Dem, Terrain
from hardware.profiles import load_camera_profile

rasterio = pytest.importorskip("rasterio")
from rasterio.transform import from_origin  # noqa: E402

POTHOLE = 4
UTM51 = pyproj.CRS.from_epsg(32651)
TO_UTM = pyproj.Transformer.from_crs(4326, UTM51, always_xy=True)
TO_LONLAT = pyproj.Transformer.from_crs(UTM51, 4326, always_xy=True)
X0, Y0 = TO_UTM.transform(ORIGIN_LON, ORIGIN_LAT)
TAKEOFF_M = 12.0
HALF_M = 220.0


def terrain_z(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Analytic terrain (metres above MSL) at UTM 51N ``x``, ``y``: 12 m at the origin."""
    dx, dy = x - X0, y - Y0
    hill = 4.0 * np.exp(-((dx - 20) ** 2 + (dy - 10) ** 2) / (2 * 15.0**2))
    hollow = -2.5 * np.exp(-((dx + 25) ** 2 + (dy + 30) ** 2) / (2 * 12.0**2))
    return TAKEOFF_M + 0.06 * dx + 0.03 * dy + hill + hollow - 4.0 * np.exp(-(20**2 + 10**2) / 450.0)


def write_dem(path: Path, crs: str) -> Path:
    if crs == "utm":
        cell = 0.5
        n = int(2 * HALF_M / cell)
        xs = X0 - HALF_M + (np.arange(n) + 0.5) * cell
        ys = Y0 + HALF_M - (np.arange(n) + 0.5) * cell
        gx, gy = np.meshgrid(xs, ys)
        z = terrain_z(gx, gy)
        transform, epsg = from_origin(X0 - HALF_M, Y0 + HALF_M, cell, cell), 32651
    else:
        cell = 5e-6
        n_lon = int(2 * HALF_M / (111_320 * np.cos(np.radians(ORIGIN_LAT)) * cell))
        n_lat = int(2 * HALF_M / (110_900 * cell))
        lon0 = ORIGIN_LON - n_lon / 2 * cell
        lat0 = ORIGIN_LAT + n_lat / 2 * cell
        glon, glat = np.meshgrid(
            lon0 + (np.arange(n_lon) + 0.5) * cell, lat0 - (np.arange(n_lat) + 0.5) * cell
        )
        z = terrain_z(*TO_UTM.transform(glon, glat))
        transform, epsg = from_origin(lon0, lat0, cell, cell), 4326
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        height=z.shape[0],
        width=z.shape[1],
        count=1,
        dtype="float64",
        crs=f"EPSG:{epsg}" if epsg else None,
        transform=transform,
        nodata=-9999.0,
    ) as dst:
        dst.write(z, 1)
    return path


@pytest.fixture(scope="module")
def dem_utm(tmp_path_factory: pytest.TempPathFactory) -> Dem:
    return Dem.open(write_dem(tmp_path_factory.mktemp("dem") / "utm.tif", "utm"))


def truth_pixels(
    camera: CameraModel,
    axes: np.ndarray,
    cam_lon: float,
    cam_lat: float,
    cam_z: float,
    rng: np.random.Generator,
    spread_m: float = 90.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Pixels (N, 2) that see unoccluded points on the analytic terrain, and those points' lon/lat (N, 2)."""
    cx, cy = TO_UTM.transform(cam_lon, cam_lat)
    px = cx + rng.uniform(-spread_m, spread_m, 4000)
    py = cy + rng.uniform(-spread_m, spread_m, 4000)
    pz = terrain_z(px, py)
    lon, lat = TO_LONLAT.transform(px, py)
    az, _, dist = GEOD.inv(np.full(px.shape, cam_lon), np.full(px.shape, cam_lat), lon, lat)
    az = np.radians(az)
    ray = np.column_stack([dist * np.sin(az), dist * np.cos(az), pz - cam_z])
    c = ray @ axes  # camera frame: (right, down, forward) components
    K = camera.K
    with np.errstate(divide="ignore", invalid="ignore"):
        u = K[0, 0] * c[:, 0] / c[:, 2] + K[0, 2]
        v = K[1, 1] * c[:, 1] / c[:, 2] + K[1, 2]
    seen = (c[:, 2] > 0) & (u > 0) & (u < camera.width) & (v > 0) & (v < camera.height)
    # Occlusion: the straight camera->point segment must stay above the terrain until the last 5 cm.
    s = np.linspace(0.0, 1.0, 400)[None, :]
    length = np.linalg.norm(ray, axis=1)[:, None]
    s = np.minimum(s, 1.0 - 0.05 / length)
    sx, sy = cx + s * (px - cx)[:, None], cy + s * (py - cy)[:, None]
    sz = cam_z + s * (pz - cam_z)[:, None]
    seen &= np.all(sz > terrain_z(sx, sy), axis=1)
    idx = np.flatnonzero(seen)[:300]
    return np.column_stack([u[idx], v[idx]]), np.column_stack([lon[idx], lat[idx]])


def place(pixels: np.ndarray, poses: CameraPoses, camera: CameraModel, terrain: Terrain | None):
    boxes = np.column_stack([pixels, pixels])
    n = len(boxes)
    return georeference_arrays(boxes, np.full(n, POTHOLE), np.zeros(n, int), poses, camera, terrain=terrain)


def dist_m(batch, truth: np.ndarray) -> np.ndarray:
    _, _, d = GEOD.inv(batch.lon, batch.lat, truth[:, 0], truth[:, 1])
    return np.asarray(d)


DRONE_CASES = [(30.0, -90.0, 0.0), (60.0, -90.0, 35.0), (40.0, -45.0, 200.0), (30.0, -45.0, 60.0)]


@pytest.mark.parametrize(("agl", "pitch", "yaw"), DRONE_CASES)
def test_drone_pixels_come_back_to_the_terrain_point(dem_utm: Dem, agl: float, pitch: float, yaw: float):
    camera = CameraModel.from_profile(load_camera_profile("dji_m3e_wide"), 1920, 1080)
    cam_lon, cam_lat = ORIGIN_LON + 2e-4, ORIGIN_LAT - 1e-4
    pose = Pose(
        T0,
        cam_lat,
        cam_lon,
        alt_msl=TAKEOFF_M + agl,
        alt_agl=agl,
        camera_pitch=pitch,
        camera_yaw=yaw,
        camera_roll=1.0,
    )
    axes = axes_matrix(np.array([yaw]), np.array([pitch]), np.array([1.0]))[0]
    pixels, truth = truth_pixels(camera, axes, cam_lon, cam_lat, TAKEOFF_M + agl, np.random.default_rng(1))
    assert len(pixels) >= 100
    poses = CameraPoses.from_poses([pose], camera)
    # Take-off elevation from the telemetry (median alt_msl - alt_agl), and given explicitly.
    for terrain in (Terrain(dem_utm), Terrain(dem_utm, takeoff_elevation_m=TAKEOFF_M)):
        batch = place(pixels, poses, camera, terrain)
        assert batch.located.all()
        d = dist_m(batch, truth)
        assert float(np.percentile(d, 95)) < 0.03 and float(d.max()) < 0.1
    flat = dist_m(place(pixels, poses, camera, None), truth)
    assert float(np.percentile(flat, 95)) > 1.0  # the relief matters: flat ground would be metres off


def test_vehicle_camera_rides_the_terrain(dem_utm: Dem):
    camera = CameraModel.from_profile(load_camera_profile("vehicle_dashcam_1080p"), 1920, 1080)
    assert camera.mount is not None
    lon, lat = ORIGIN_LON - 3e-4, ORIGIN_LAT - 2e-4  # on the slope, 5 m below the take-off point
    x, y = TO_UTM.transform(lon, lat)
    cam_z = float(terrain_z(np.array([x]), np.array([y]))[0]) + camera.mount.height_m
    pose = Pose(T0, lat, lon, yaw=50.0, pitch=1.0, roll=0.5)
    axes = mounted_axes(np.array([50.0]), np.array([1.0]), np.array([0.5]), camera.mount)[0]
    pixels, truth = truth_pixels(camera, axes, lon, lat, cam_z, np.random.default_rng(2), spread_m=30.0)
    assert len(pixels) >= 50
    batch = place(pixels, CameraPoses.from_poses([pose], camera), camera, Terrain(dem_utm))
    assert batch.located.all()
    near = (
        np.abs(GEOD.inv(np.full(len(truth), lon), np.full(len(truth), lat), truth[:, 0], truth[:, 1])[2]) < 40
    )
    assert float(np.percentile(dist_m(batch, truth)[near], 95)) < 0.05


def test_dem_in_wgs84_agrees_with_dem_in_utm(dem_utm: Dem, tmp_path: Path):
    dem_ll = Dem.open(write_dem(tmp_path / "ll.tif", "lonlat"))
    assert dem_ll.crs.is_geographic and dem_utm.crs.is_projected
    camera = pinhole()
    pose = Pose(T0, ORIGIN_LAT, ORIGIN_LON, alt_msl=52.0, alt_agl=40.0, camera_pitch=-60.0, camera_yaw=120.0)
    axes = axes_matrix(np.array([120.0]), np.array([-60.0]), np.array([0.0]))[0]
    pixels, truth = truth_pixels(camera, axes, ORIGIN_LON, ORIGIN_LAT, 52.0, np.random.default_rng(3))
    poses = CameraPoses.from_poses([pose], camera)
    a = place(pixels, poses, camera, Terrain(dem_utm))
    b = place(pixels, poses, camera, Terrain(dem_ll))
    assert float(np.percentile(dist_m(b, truth), 95)) < 0.05
    _, _, d = GEOD.inv(a.lon, a.lat, b.lon, b.lat)
    assert float(np.max(d)) < 0.1


@pytest.mark.parametrize(("agl", "pitch", "yaw"), DRONE_CASES)
def test_telemetry_noise_gives_metre_level_errors_not_wrong_pins(
    dem_utm: Dem, agl: float, pitch: float, yaw: float
):
    """RTK-class telemetry (0.1 m position, 0.1 m height, 0.15 deg attitude) over the DEM."""
    camera = CameraModel.from_profile(load_camera_profile("dji_m3e_wide"), 1920, 1080)
    rng = np.random.default_rng(4)
    pixels, truth = truth_pixels(
        camera,
        axes_matrix(np.array([yaw]), np.array([pitch]), np.array([0.0]))[0],
        ORIGIN_LON,
        ORIGIN_LAT,
        TAKEOFF_M + agl,
        rng,
    )
    m = len(pixels)
    east, north = rng.normal(0, 0.1 / np.sqrt(2), (2, m))
    lon, lat, _ = GEOD.fwd(
        np.full(m, ORIGIN_LON),
        np.full(m, ORIGIN_LAT),
        np.degrees(np.arctan2(east, north)),
        np.hypot(east, north),
    )
    att = rng.normal(0, 0.15, (3, m))
    poses = CameraPoses.from_poses(
        [
            Pose(
                T0,
                lat[i],
                lon[i],
                alt_msl=TAKEOFF_M + agl,
                alt_agl=agl + rng.normal(0, 0.1),
                camera_pitch=pitch + att[0, i],
                camera_yaw=yaw + att[1, i],
                camera_roll=att[2, i],
                horizontal_accuracy_m=0.1,
                vertical_accuracy_m=0.1,
            )
            for i in range(m)
        ],
        camera,
        attitude_sigma_deg=0.15,
    )
    boxes = np.column_stack([pixels, pixels])
    batch = georeference_arrays(
        boxes, np.full(m, POTHOLE), np.arange(m), poses, camera, terrain=Terrain(dem_utm)
    )
    assert batch.located.all()
    d = dist_m(batch, truth)
    # No wrong pins: every error within 4 of its own 1-sigma accuracy, and the RMS error matches the claim.
    assert np.all(d <= 4 * batch.accuracy_m)
    assert float(np.sqrt(np.mean(d**2))) <= 1.5 * float(np.sqrt(np.mean(batch.accuracy_m**2)))
    # accuracy_m is a radial 1 sigma (DRMS): a 2-D Gaussian keeps 95 % within ~1.73 of it (slope: some slack).
    assert float(np.percentile(d / batch.accuracy_m, 95)) <= 2.0
    assert float(np.median(d)) <= 1.0


def test_rays_leaving_the_dem_are_rejected_and_counted(dem_utm: Dem):
    camera = pinhole()
    # Near the DEM's east edge, looking east at a shallow angle: the ground is beyond the DEM.
    lon = ORIGIN_LON + (HALF_M - 60) / (111_320 * np.cos(np.radians(ORIGIN_LAT)))
    pose = Pose(T0, ORIGIN_LAT, lon, alt_msl=62.0, alt_agl=50.0, camera_pitch=-20.0, camera_yaw=90.0)
    boxes = np.array([[500.0, 400, 500, 400], [500.0, 790, 500, 790]])  # centre: beyond; bottom: ~ below
    batch = place(boxes[:, :2], CameraPoses.from_poses([pose], camera), camera, Terrain(dem_utm))
    stats = GeoreferenceStats()
    stats.add(batch)
    assert batch.located.tolist() == [False, True]
    assert (stats.rejected_detections, stats.events) == (1, 1)


def test_dem_without_crs_or_in_an_unusable_crs_is_a_clear_error(tmp_path: Path):
    path = tmp_path / "nocrs.tif"
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        height=4,
        width=4,
        count=1,
        dtype="float32",
        transform=from_origin(0, 4, 1, 1),
    ) as dst:
        dst.write(np.zeros((4, 4), np.float32), 1)
    with pytest.raises(GeoError, match=r"nocrs\.tif: the DEM has no CRS"):
        Dem.open(path)
    engineering = pyproj.CRS.from_wkt(
        'ENGCRS["site grid",EDATUM["site"],CS[Cartesian,2],AXIS["x",east,LENGTHUNIT["metre",1]],'
        'AXIS["y",north,LENGTHUNIT["metre",1]]]'
    )
    with pytest.raises(
        GeoError, match=r"site\.tif: the DEM's CRS 'site grid' is neither geographic nor projected"
    ):
        Dem(np.zeros((4, 4)), (1.0, 0.0, 0.0, 0.0, -1.0, 4.0), engineering, "site.tif")
    with pytest.raises(GeoError, match=r"missing\.tif: cannot read the DEM"):
        Dem.open(tmp_path / "missing.tif")


def test_drone_over_terrain_without_takeoff_elevation_is_a_clear_error(dem_utm: Dem):
    camera = pinhole()
    poses = CameraPoses.from_poses(
        [Pose(T0, ORIGIN_LAT, ORIGIN_LON, alt_agl=30.0, camera_pitch=-90.0)], camera
    )
    with pytest.raises(GeoError, match="take-off elevation is needed"):
        place(np.array([[500.0, 400.0]]), poses, camera, Terrain(dem_utm))


def test_frame_footprint_on_terrain_covers_the_cast_detections(dem_utm: Dem):
    camera = pinhole()
    pose = Pose(T0, ORIGIN_LAT, ORIGIN_LON, alt_msl=52.0, alt_agl=40.0, camera_pitch=-70.0, camera_yaw=30.0)
    poses = CameraPoses.from_poses([pose, None], camera)
    fp = frame_footprints(poses, camera, terrain=Terrain(dem_utm))
    assert fp.hit[0].all() and not fp.hit[1].any()
    poly = fp.polygon(0)
    assert poly is not None and poly.is_valid
    rng = np.random.default_rng(5)
    pixels = np.column_stack([rng.uniform(20, 980, 50), rng.uniform(20, 780, 50)])
    batch = place(pixels, CameraPoses.from_poses([pose], camera), camera, Terrain(dem_utm))
    assert all(poly.contains(shapely.Point(x, y)) for x, y in zip(batch.lon, batch.lat, strict=True))
