"""Road centre line (a clothoid-free constant-curvature arc or a straight) and its cross-section.

Positions are local metres (x east, y north). Headings are radians clockwise
from true north. ``t`` is the lateral offset, positive to the right of the
direction of travel.

Example:
    >>> road = Road(RoadSpec(length_m=100.0, heading_deg=90.0))
    >>> road.point(50.0, 0.0).round(6).tolist()  # the middle of the road is the local origin
    [0.0, 0.0]
    >>> road.point(60.0, 2.0).round(6).tolist()  # 10 m further east, 2 m to the right (south)
    [10.0, -2.0]
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, slots=True)
class RoadSpec:
    """Cross-section and shape of a simulated urban road."""

    length_m: float = 250.0
    heading_deg: float = 30.0  # heading at the start, clockwise from north
    curvature_deg_per_100m: float = 0.0  # heading change per 100 m (positive turns right)
    lanes_per_direction: int = 2
    lane_width_m: float = 3.5
    shoulder_m: float = 0.5  # asphalt beyond the edge line
    kerb_m: float = 0.2
    sidewalk_m: float = 3.0
    verge_m: float = 8.0  # grass and soil beyond the sidewalk

    @property
    def half_width_m(self) -> float:
        """Half the asphalt width (centre line to kerb)."""
        return self.lanes_per_direction * self.lane_width_m + self.shoulder_m

    @property
    def half_corridor_m(self) -> float:
        """Half the modelled corridor width (centre line to the outer edge of the verge)."""
        return self.half_width_m + self.kerb_m + self.sidewalk_m + self.verge_m


class Road:
    """Centre line ``s -> (x, y)`` with heading and right normal, centred on the local origin."""

    def __init__(self, spec: RoadSpec) -> None:
        self.spec = spec
        self._psi0 = math.radians(spec.heading_deg)
        self._kappa = math.radians(spec.curvature_deg_per_100m) / 100.0
        self._offset = np.zeros(2)
        self._offset = self._raw_xy(np.array([spec.length_m / 2.0]))[0]

    def _raw_xy(self, s: np.ndarray) -> np.ndarray:
        psi = self._psi0 + self._kappa * s
        if abs(self._kappa) < 1e-12:
            xy = np.column_stack([s * math.sin(self._psi0), s * math.cos(self._psi0)])
        else:
            xy = np.column_stack(
                [
                    (math.cos(self._psi0) - np.cos(psi)) / self._kappa,
                    (np.sin(psi) - math.sin(self._psi0)) / self._kappa,
                ]
            )
        return np.asarray(xy - self._offset)

    def heading(self, s: np.ndarray | float) -> np.ndarray:
        """Heading (radians clockwise from north) at arc length ``s``."""
        return np.asarray(self._psi0 + self._kappa * np.asarray(s, dtype=np.float64))

    def normal(self, s: np.ndarray | float) -> np.ndarray:
        """Unit vector(s) pointing to the right of travel, shape ``(n, 2)``."""
        psi = np.atleast_1d(self.heading(s))
        return np.column_stack([np.cos(psi), -np.sin(psi)])

    def tangent(self, s: np.ndarray | float) -> np.ndarray:
        """Unit vector(s) along travel, shape ``(n, 2)``."""
        psi = np.atleast_1d(self.heading(s))
        return np.column_stack([np.sin(psi), np.cos(psi)])

    def points(self, s: np.ndarray, t: np.ndarray | float = 0.0) -> np.ndarray:
        """Local points ``(n, 2)`` at arc lengths ``s`` and lateral offsets ``t``."""
        s = np.atleast_1d(np.asarray(s, dtype=np.float64))
        t_arr = np.broadcast_to(np.asarray(t, dtype=np.float64), s.shape)
        return np.asarray(self._raw_xy(s) + t_arr[:, None] * self.normal(s))

    def point(self, s: float, t: float = 0.0) -> np.ndarray:
        return np.asarray(self.points(np.array([s]), t)[0])

    def band(
        self, t0: float, t1: float, s0: float = 0.0, s1: float | None = None, step: float = 0.5
    ) -> np.ndarray:
        """Closed polygon ``(n, 2)`` of the strip between offsets ``t0`` and ``t1`` over ``[s0, s1]``."""
        s1 = self.spec.length_m if s1 is None else s1
        n = max(2, math.ceil((s1 - s0) / step) + 1)
        s = np.linspace(s0, s1, n)
        return np.vstack([self.points(s, t0), self.points(s[::-1], t1)])

    def chord_heading(self) -> float:
        """Heading of the straight line from start to end (radians)."""
        a, b = self.points(np.array([0.0, self.spec.length_m]))
        return math.atan2(b[0] - a[0], b[1] - a[1])
