"""The roadsight taxonomy: 28 road-defect and enforcement classes in 8 categories.

The classes live in ``taxonomy.yaml`` beside this file (data, not code). Every
stage speaks in taxonomy ids; a model's own class list is mapped onto the
taxonomy by a declared :class:`ClassMapping`, and a class that cannot be mapped
is an error at load time, never a silent drop.

Example:
    >>> from taxonomy import load_taxonomy
    >>> tax = load_taxonomy()
    >>> len(tax.classes), len(tax.categories)
    (28, 8)
    >>> tax.by_key["pothole"].name_zh
    '坑槽'
"""

from __future__ import annotations

from taxonomy.mapping import ClassMapping, UnmappedClassError
from taxonomy.model import (
    Anchor,
    Category,
    Kind,
    Taxonomy,
    TaxonomyClass,
    TaxonomyError,
    load_taxonomy,
)

__all__ = [
    "Anchor",
    "Category",
    "ClassMapping",
    "Kind",
    "Taxonomy",
    "TaxonomyClass",
    "TaxonomyError",
    "UnmappedClassError",
    "load_taxonomy",
]
