"""Mapping a model's own class list onto the taxonomy."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from taxonomy.model import Taxonomy, load_taxonomy


class UnmappedClassError(ValueError):
    """Raised at load time when a model class has no taxonomy class."""


@dataclass(frozen=True)
class ClassMapping:
    """From a model's class indices to taxonomy ids.

    ``lookup[i]`` is the taxonomy id of model class ``i``, or ``-1`` for a class
    that the mapping explicitly ignores (declared with ``None``, e.g. COCO's
    ``toothbrush`` for a vehicle model). A class that is neither mapped nor
    ignored makes :meth:`build` fail, naming every such class.

    Example:
        >>> m = ClassMapping.build(["pothole", "car"], {"car": None})
        >>> m.lookup.tolist()
        [4, -1]
    """

    model_names: tuple[str, ...]
    lookup: np.ndarray  # int32, shape (n_model_classes,)

    @classmethod
    def build(
        cls,
        model_names: Sequence[str] | Mapping[int, str],
        declared: Mapping[str, str | None] | None = None,
        taxonomy: Taxonomy | None = None,
    ) -> ClassMapping:
        """Map ``model_names`` onto the taxonomy.

        A model name maps to the taxonomy class of the same key unless
        ``declared`` says otherwise (``model name -> taxonomy key`` or ``None``
        to ignore it). Unknown model names or unknown taxonomy keys in
        ``declared`` raise :class:`UnmappedClassError`.
        """
        tax = taxonomy or load_taxonomy()
        if isinstance(model_names, Mapping):
            names = tuple(model_names[i] for i in sorted(model_names))
        else:
            names = tuple(model_names)
        declared = dict(declared or {})
        lookup = np.full(len(names), -1, dtype=np.int32)
        unmapped: list[str] = []
        for i, name in enumerate(names):
            if name in declared:
                target = declared[name]
                if target is None:
                    continue
            else:
                target = name
            cls_ = tax.by_key.get(target)
            if cls_ is None:
                unmapped.append(name if target == name else f"{name} -> {target}")
                continue
            lookup[i] = cls_.id
        if unmapped:
            raise UnmappedClassError(
                "model classes with no taxonomy class: "
                + ", ".join(unmapped)
                + " (declare a mapping to a taxonomy key, or map to null to ignore)"
            )
        return cls(model_names=names, lookup=lookup)

    def to_taxonomy(self, model_class: np.ndarray) -> np.ndarray:
        """Vectorised: taxonomy ids for model class indices (-1 where ignored)."""
        return self.lookup[np.asarray(model_class, dtype=np.intp)]
