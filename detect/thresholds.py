"""Per-class confidence thresholds, keyed by taxonomy key.

A detector takes either one threshold for every class or a mapping from
taxonomy keys to thresholds with an optional ``"default"`` for the rest
(e.g. a stricter bar for classes that trigger enforcement cases). The result
is one threshold per *model* class, so filtering is a single vectorised
comparison; model classes the mapping ignores get ``inf`` and never pass.

Example:
    >>> from taxonomy import ClassMapping
    >>> m = ClassMapping.build(["pothole", "patch", "car"], {"car": None})
    >>> model_class_thresholds({"pothole": 0.5, "default": 0.3}, m).tolist()
    [0.5, 0.30000001192092896, inf]
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from detect.errors import DetectError
from taxonomy import ClassMapping, Taxonomy, load_taxonomy

DEFAULT_KEY = "default"


def _checked(key: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0.0 <= value <= 1.0:
        raise DetectError(f"conf[{key!r}]: threshold must be a number in [0, 1], got {value!r}")
    return float(value)


def model_class_thresholds(
    conf: float | Mapping[str, float],
    mapping: ClassMapping,
    taxonomy: Taxonomy | None = None,
    default: float = 0.25,
) -> np.ndarray:
    """One float32 threshold per model class (``inf`` if ignored); a box passes when score > threshold.

    Raises :class:`DetectError` for a key that is neither a taxonomy key nor ``"default"``, or a value
    outside [0, 1].
    """
    tax = taxonomy or load_taxonomy()
    by_taxonomy_id = np.empty(len(tax.classes), np.float32)
    if isinstance(conf, Mapping):
        unknown = sorted(k for k in conf if k != DEFAULT_KEY and k not in tax.by_key)
        if unknown:
            raise DetectError(f"conf: keys {unknown} are not taxonomy keys (nor {DEFAULT_KEY!r})")
        by_taxonomy_id[:] = _checked(DEFAULT_KEY, conf.get(DEFAULT_KEY, default))
        for key, value in conf.items():
            if key != DEFAULT_KEY:
                by_taxonomy_id[tax.by_key[key].id] = _checked(key, value)
    else:
        by_taxonomy_id[:] = _checked("all", conf)
    mapped = mapping.lookup >= 0
    thresholds = np.full(len(mapping.lookup), np.inf, np.float32)
    thresholds[mapped] = by_taxonomy_id[mapping.lookup[mapped]]
    return thresholds
