"""A fixed colour per taxonomy class, so a class looks the same on every map.

Example:
    >>> class_color(4)
    [228, 26, 28]
"""

from __future__ import annotations

# 28 distinguishable RGB colours indexed by taxonomy id (ids are stable; new
# classes wrap around the list).
CLASS_PALETTE: tuple[tuple[int, int, int], ...] = (
    (166, 206, 227),
    (31, 120, 180),
    (178, 223, 138),
    (51, 160, 44),
    (228, 26, 28),
    (251, 154, 153),
    (253, 191, 111),
    (255, 127, 0),
    (202, 178, 214),
    (106, 61, 154),
    (255, 255, 153),
    (177, 89, 40),
    (141, 211, 199),
    (190, 186, 218),
    (251, 128, 114),
    (128, 177, 211),
    (253, 180, 98),
    (179, 222, 105),
    (252, 205, 229),
    (188, 128, 189),
    (204, 235, 197),
    (255, 237, 111),
    (27, 158, 119),
    (217, 95, 2),
    (117, 112, 179),
    (231, 41, 138),
    (102, 166, 30),
    (230, 171, 2),
)


def class_color(class_id: int) -> list[int]:
    """RGB of a taxonomy class id."""
    return list(CLASS_PALETTE[int(class_id) % len(CLASS_PALETTE)])
