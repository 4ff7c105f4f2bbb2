"""Session fixtures for whole-pipeline tests: simulated missions, cached on disk.

A mission is generated once and reused while the simulator's code and the
scenario are unchanged: the cache key hashes both, so an edit to the
simulator regenerates the mission instead of testing against a stale one.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import shutil
from pathlib import Path

import pytest

from roadsight.config import PipelineConfig

REPO = Path(__file__).resolve().parent.parent
CACHE = Path(os.environ.get("ROADSIGHT_CACHE", REPO / ".cache")) / "missions"


def _sim_fingerprint(scenario: str, seed: int) -> str:
    digest = hashlib.sha256(f"{scenario}/{seed}".encode())
    sources = sorted((REPO / "hardware" / "sim").glob("*.py"))
    sources += [REPO / "hardware" / "scenarios" / f"{scenario}.yaml"]
    sources += sorted((REPO / "hardware" / "profiles").rglob("*.yaml"))
    for path in sources:
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def cached_mission(scenario: str, seed: int = 0) -> Path:
    """The mission folder for ``scenario``/``seed``, generated if not cached."""
    from hardware.sim import generate_mission

    target = CACHE / f"{scenario}-seed{seed}-{_sim_fingerprint(scenario, seed)}"
    if (target / ".complete").exists():
        return target
    CACHE.mkdir(parents=True, exist_ok=True)
    # Several pytest processes (or xdist workers) may want the same mission: one generates it.
    with open(CACHE / f".{target.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if (target / ".complete").exists():
            return target
        if target.exists():
            shutil.rmtree(target)
        generate_mission(scenario, seed, target, progress=False)
        (target / ".complete").write_text("ok\n")
    return target


@pytest.fixture(scope="session")
def drone_mission() -> Path:
    """The bundled drone sample mission (1080p30, 35 s, exact ground truth)."""
    return cached_mission("drone_sample", 0)


@pytest.fixture(scope="session")
def drone_quick_mission() -> Path:
    """A small drone mission (640x360, 10 fps, 6 s) for live-serving tests."""
    return cached_mission("drone_quick", 0)


@pytest.fixture(scope="session")
def vehicle_mission() -> Path:
    """The bundled patrol-vehicle sample (forward dashcam at 60 km/h, 1080p30, 20 s, NMEA)."""
    return cached_mission("vehicle_sample", 0)


def mission_config(mission: Path, store: Path, **extra: object) -> PipelineConfig:
    """A pipeline configuration that runs ``mission``'s video and tlog into ``store``, plus ``extra``."""
    manifest = json.loads((mission / "scenario.json").read_text())
    return PipelineConfig.model_validate(
        {
            "source": str(mission / "video.mp4"),
            "telemetry": str(mission / "telemetry.tlog"),
            "camera": manifest["camera_profile"],
            "store": str(store),
            **extra,
        }
    )
