"""``ground_truth.geojson``: one Point feature per object at its anchor, with its footprint ring.

Coordinates are WGS84 longitude, latitude (RFC 7946 order).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from hardware.sim.world import GroundTruthObject, World


def ground_truth_features(world: World, objects: Sequence[GroundTruthObject]) -> dict[str, Any]:
    """GeoJSON FeatureCollection of ``objects`` (local metres converted with the world's CRS)."""
    features = []
    for obj in objects:
        ((lon, lat),) = world.to_lonlat(np.array([obj.center_xy]))
        ring = world.to_lonlat(np.asarray(obj.footprint_xy))
        ring = np.vstack([ring, ring[:1]])  # closed
        features.append(
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [round(float(lon), 9), round(float(lat), 9)]},
                "properties": {
                    "object_id": obj.object_id,
                    "class_key": obj.class_key,
                    "class_id": obj.class_id,
                    "footprint": [[round(float(x), 9), round(float(y), 9)] for x, y in ring],
                    "size_m": obj.size_m,
                },
            }
        )
    return {"type": "FeatureCollection", "features": features}


def write_ground_truth(path: Path, world: World, objects: Sequence[GroundTruthObject]) -> None:
    path.write_text(json.dumps(ground_truth_features(world, objects), indent=1) + "\n", encoding="utf-8")
