"""Which taxonomy class a data set's own class name stands for.

``taxonomy.yaml`` lists, per taxonomy class, the names it has in public data
sets (``sources: {rdd: [D40]}``, ``sources: {coco: [car, truck, ...]}``).
:class:`SourceClassMap` inverts that list, so ``D40`` -> ``pothole`` and
``car`` -> ``illegal_parking_vehicle``; a taxonomy key is also accepted as a
source name of its own class. A source name listed under two taxonomy classes
(COCO ``person`` is both ``street_vending`` and ``outside_store_operation``) is
*ambiguous*: converters skip and count its boxes until an override says which
class it is. Overrides (``{"Repair": None}``) win over the taxonomy; ``None``
ignores a source class on purpose (still counted).

Example:
    >>> m = SourceClassMap.from_taxonomy({"person": "street_vending"})
    >>> m.resolve("D40"), m.resolve("person"), m.resolve("D99")
    ('pothole', 'street_vending', <Skip.UNMAPPED: 'unmapped'>)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum

import numpy as np

from detect.convert.errors import ConversionError
from detect.convert.report import ConversionReport
from taxonomy import Taxonomy, load_taxonomy


class Skip(Enum):
    """Why a source class yields no YOLO box."""

    IGNORED = "ignored"  # an override maps it to None on purpose
    UNMAPPED = "unmapped"  # no taxonomy class has this source name
    AMBIGUOUS = "ambiguous"  # several taxonomy classes list it; an override must choose


@dataclass(frozen=True)
class SourceClassMap:
    """Source class name -> taxonomy key (or ``None`` to ignore), plus the ambiguous names."""

    targets: Mapping[str, str | None]
    ambiguous: Mapping[str, tuple[str, ...]] = field(default_factory=dict)

    @classmethod
    def from_taxonomy(
        cls, overrides: Mapping[str, str | None] | None = None, taxonomy: Taxonomy | None = None
    ) -> SourceClassMap:
        """The taxonomy's source names (all data set families) with ``overrides`` on top.

        Raises :class:`ConversionError` when an override names a taxonomy key that does not exist.
        """
        tax = taxonomy or load_taxonomy()
        candidates: dict[str, list[str]] = {}
        for tax_class in tax.classes:
            for names in tax_class.sources.values():
                for name in names:
                    candidates.setdefault(name, []).append(tax_class.key)
        targets: dict[str, str | None] = {c.key: c.key for c in tax.classes}
        ambiguous: dict[str, tuple[str, ...]] = {}
        for name, keys in candidates.items():
            if len(keys) == 1:
                targets[name] = keys[0]
            else:
                ambiguous[name] = tuple(keys)
        bad = {k: v for k, v in (overrides or {}).items() if v is not None and v not in tax.by_key}
        if bad:
            raise ConversionError(f"class mapping: {bad} map to keys that are not taxonomy keys")
        for name, key in (overrides or {}).items():
            targets[name] = key
            ambiguous.pop(name, None)
        return cls(targets=targets, ambiguous=ambiguous)

    def resolve(self, source_name: str) -> str | Skip:
        """The taxonomy key for ``source_name``, or why it has none."""
        if source_name in self.ambiguous:
            return Skip.AMBIGUOUS
        if source_name not in self.targets:
            return Skip.UNMAPPED
        key = self.targets[source_name]
        return Skip.IGNORED if key is None else key

    def to_taxonomy_ids(self, source_names: Sequence[str], report: ConversionReport) -> np.ndarray:
        """Taxonomy ids per box (``-1`` = skipped); counts every box, read and skipped, in ``report``."""
        tax = load_taxonomy()
        ids = np.full(len(source_names), -1, np.int64)
        for i, name in enumerate(source_names):
            report.source_boxes[name] += 1
            target = self.resolve(name)
            if target is Skip.UNMAPPED:
                report.unmapped[name] += 1
            elif target is Skip.AMBIGUOUS:
                report.ambiguous[name] += 1
            elif target is Skip.IGNORED:
                report.ignored[name] += 1
            else:
                ids[i] = tax.by_key[target].id
        return ids
