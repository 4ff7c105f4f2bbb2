"""The test range: a simulator that speaks real formats with exact ground truth.

Offline part (this package): :func:`generate_mission` writes a mission folder
(video, telemetry, sidecars, ground truth; see ``docs/architecture.md``) and
:func:`generate_dataset` a YOLO training set of labelled stills. The live
replay (``serve``) lives beside it. Heavy modules (GStreamer, the renderer)
load on first use, so ``import hardware.sim`` stays cheap.

Example:
    >>> from hardware.sim import SIM_CLASSES
    >>> "pothole" in SIM_CLASSES
    True
"""

from __future__ import annotations

import importlib
from typing import Any

from hardware.sim.classes import SIM_CLASSES

_LAZY = {
    "generate_mission": "hardware.sim.generate",
    "plan_mission": "hardware.sim.generate",
    "MissionPlan": "hardware.sim.generate",
    "generate_dataset": "hardware.sim.dataset",
    "load_scenario": "hardware.sim.scenario",
    "list_scenarios": "hardware.sim.scenario",
    "Scenario": "hardware.sim.scenario",
    "ScenarioError": "hardware.sim.scenario",
    "DatasetError": "hardware.sim.dataset",
    "build_world": "hardware.sim.world",
    "World": "hardware.sim.world",
    "WorldSpec": "hardware.sim.world",
    "GroundTruthObject": "hardware.sim.world",
    "CameraPose": "hardware.sim.camera",
    "project_ground_points": "hardware.sim.camera",
    "render_view": "hardware.sim.render",
}

__all__ = ["SIM_CLASSES", *_LAZY]


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'hardware.sim' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)
