"""The simulated classes: taxonomy keys in the fixed order of the training data set, and their sizes.

Example:
    >>> SIM_CLASSES[0], len(SIM_CLASSES)
    ('pothole', 9)
"""

from __future__ import annotations

# Fixed order: the class index in YOLO labels and data.yaml `names`.
SIM_CLASSES: tuple[str, ...] = (
    "pothole",
    "alligator_crack",
    "longitudinal_crack",
    "transverse_crack",
    "patch",
    "damaged_manhole_cover",
    "ponding",
    "garbage_pile",
    "road_debris",
)

# Largest dimension (metres) drawn uniformly from these ranges.
CLASS_SIZES_M: dict[str, tuple[float, float]] = {
    "pothole": (0.4, 1.2),
    "alligator_crack": (1.5, 3.0),
    "longitudinal_crack": (1.5, 4.0),
    "transverse_crack": (1.5, 4.0),
    "patch": (1.0, 3.0),
    "damaged_manhole_cover": (0.65, 0.75),
    "ponding": (1.0, 3.0),
    "garbage_pile": (1.0, 2.0),
    "road_debris": (0.5, 1.5),
}


def near_kerb(class_key: str) -> bool:
    """Things that are usually dumped or swept to the kerb."""
    return class_key in ("garbage_pile", "road_debris")
