"""Typed taxonomy records and the validating loader."""

from __future__ import annotations

import functools
from enum import Enum, StrEnum
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

DEFAULT_TAXONOMY_PATH = Path(__file__).with_name("taxonomy.yaml")


class TaxonomyError(ValueError):
    """A taxonomy file that cannot be used; the message names the file and key."""


class Kind(StrEnum):
    defect = "defect"
    enforcement = "enforcement"


class Anchor(Enum):
    """Which point of a pixel box stands for the object on the ground."""

    center = "center"  # flat things: potholes, cracks, markings
    bottom_center = "bottom_center"  # upright things: signs, vehicles, stalls


class Category(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    key: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    name_zh: str
    name_en: str


class TaxonomyClass(BaseModel):
    """One class of the taxonomy."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: int = Field(ge=0)
    key: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    name_zh: str
    name_en: str
    category: str
    kind: Kind
    severity: int = Field(ge=1, le=3)
    anchor: Anchor
    sources: dict[str, list[str]] = Field(default_factory=dict)


class Taxonomy(BaseModel):
    """The whole taxonomy, validated: unique ids and keys, known categories."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: int
    categories: tuple[Category, ...]
    classes: tuple[TaxonomyClass, ...]

    @model_validator(mode="after")
    def _check_consistency(self) -> Taxonomy:
        category_keys = {c.key for c in self.categories}
        if len(category_keys) != len(self.categories):
            raise ValueError("categories: duplicate category key")
        seen_ids: set[int] = set()
        seen_keys: set[str] = set()
        for i, cls in enumerate(self.classes):
            if cls.id in seen_ids:
                raise ValueError(f"classes[{i}].id: duplicate id {cls.id}")
            if cls.key in seen_keys:
                raise ValueError(f"classes[{i}].key: duplicate key {cls.key!r}")
            if cls.category not in category_keys:
                raise ValueError(f"classes[{i}].category: unknown category {cls.category!r}")
            seen_ids.add(cls.id)
            seen_keys.add(cls.key)
        return self

    @functools.cached_property
    def by_key(self) -> dict[str, TaxonomyClass]:
        return {c.key: c for c in self.classes}

    @functools.cached_property
    def by_id(self) -> dict[int, TaxonomyClass]:
        return {c.id: c for c in self.classes}

    def get(self, key_or_id: str | int) -> TaxonomyClass:
        """Look a class up by key or id; raises :class:`KeyError` naming it."""
        table: dict[Any, TaxonomyClass] = self.by_id if isinstance(key_or_id, int) else self.by_key
        try:
            return table[key_or_id]
        except KeyError:
            raise KeyError(f"unknown taxonomy class {key_or_id!r}") from None


def _format_validation_error(path: Path, err: ValidationError) -> str:
    first = err.errors()[0]
    loc = ".".join(str(p) for p in first["loc"]) or "(top level)"
    return f"{path}: {loc}: {first['msg']}"


@functools.lru_cache(maxsize=8)
def _load_cached(path: Path) -> Taxonomy:
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise TaxonomyError(f"{path}: taxonomy file not found") from None
    except yaml.YAMLError as exc:
        raise TaxonomyError(f"{path}: not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise TaxonomyError(f"{path}: expected a mapping at the top level")
    try:
        return Taxonomy.model_validate(raw)
    except ValidationError as exc:
        raise TaxonomyError(_format_validation_error(path, exc)) from None


def load_taxonomy(path: str | Path | None = None) -> Taxonomy:
    """Load and validate a taxonomy file (the bundled one by default).

    Example:
        >>> load_taxonomy().get("pothole").id
        4
    """
    return _load_cached(Path(path) if path is not None else DEFAULT_TAXONOMY_PATH)
