"""The taxonomy file and the mapping of model classes onto it."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml

from taxonomy import ClassMapping, TaxonomyError, UnmappedClassError, load_taxonomy
from taxonomy.model import DEFAULT_TAXONOMY_PATH

EXPECTED = {
    "cracks": ["longitudinal_crack", "transverse_crack", "alligator_crack", "block_crack"],
    "surface": ["pothole", "raveling", "rutting", "subsidence", "patch"],
    "markings": ["faded_lane_marking", "faded_crosswalk"],
    "roadside_facilities": [
        "damaged_guardrail",
        "missing_sign",
        "damaged_sign",
        "damaged_manhole_cover",
        "missing_manhole_cover",
    ],
    "road_hazards": ["road_debris", "ponding"],
    "traffic_enforcement": ["illegal_parking_vehicle", "illegal_parking_nonmotor"],
    "street_order": [
        "street_vending",
        "outside_store_operation",
        "illegal_advertising",
        "illegal_construction",
        "laundry_along_street",
    ],
    "sanitation": ["garbage_pile", "overflowing_bin", "construction_waste"],
}


def test_taxonomy_has_28_classes_in_8_categories() -> None:
    tax = load_taxonomy()
    assert len(tax.classes) == 28
    assert [c.key for c in tax.categories] == list(EXPECTED)
    for category, keys in EXPECTED.items():
        assert [c.key for c in tax.classes if c.category == category] == keys
    assert sorted(c.id for c in tax.classes) == list(range(28))


def test_classes_carry_names_kind_severity_and_sources() -> None:
    tax = load_taxonomy()
    pothole = tax.get("pothole")
    assert (pothole.name_zh, pothole.name_en, pothole.kind.value, pothole.severity) == (
        "坑槽",
        "Pothole",
        "defect",
        3,
    )
    assert pothole.sources["rdd"] == ["D40"]
    assert tax.get("illegal_parking_vehicle").kind.value == "enforcement"
    assert "car" in tax.get("illegal_parking_vehicle").sources["coco"]
    assert tax.get(4) is pothole
    rdd_codes = {code for c in tax.classes for code in c.sources.get("rdd", [])}
    assert {"D00", "D10", "D20", "D40", "D43", "D44", "D50", "Repair", "Block crack"} <= rdd_codes
    for c in tax.classes:
        assert c.name_zh and c.name_en and 1 <= c.severity <= 3


def test_unknown_class_lookup_names_it() -> None:
    with pytest.raises(KeyError, match="no_such_class"):
        load_taxonomy().get("no_such_class")


def _write_variant(tmp_path: Path, mutate: Callable[[dict[str, Any]], object]) -> Path:
    raw = yaml.safe_load(DEFAULT_TAXONOMY_PATH.read_text(encoding="utf-8"))
    mutate(raw)
    path = tmp_path / "taxonomy.yaml"
    path.write_text(yaml.safe_dump(raw, allow_unicode=True), encoding="utf-8")
    return path


def test_duplicate_id_is_rejected_naming_the_key(tmp_path: Path) -> None:
    path = _write_variant(tmp_path, lambda raw: raw["classes"][5].update(id=4))
    with pytest.raises(TaxonomyError, match=r"classes\[5\]\.id: .*duplicate id 4"):
        load_taxonomy(path)


def test_unknown_category_and_bad_severity_are_rejected(tmp_path: Path) -> None:
    path = _write_variant(tmp_path, lambda raw: raw["classes"][0].update(category="nope"))
    with pytest.raises(TaxonomyError, match=r"classes\[0\]\.category"):
        load_taxonomy(path)
    path = _write_variant(tmp_path, lambda raw: raw["classes"][3].update(severity=7))
    with pytest.raises(TaxonomyError, match=r"classes\.3\.severity"):
        load_taxonomy(path)


def test_malformed_yaml_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("classes: [unclosed", encoding="utf-8")
    with pytest.raises(TaxonomyError, match=r"bad\.yaml: not valid YAML"):
        load_taxonomy(path)


def test_mapping_by_key_and_declared_names() -> None:
    mapping = ClassMapping.build(
        ["pothole", "D00", "car", "toothbrush"],
        {"D00": "longitudinal_crack", "car": "illegal_parking_vehicle", "toothbrush": None},
    )
    assert mapping.lookup.tolist() == [4, 0, 18, -1]
    assert mapping.to_taxonomy(np.array([3, 0, 1])).tolist() == [-1, 4, 0]
    # Ultralytics stores names as {index: name}
    assert ClassMapping.build({1: "patch", 0: "pothole"}).lookup.tolist() == [4, 8]


def test_unmapped_model_classes_fail_at_load_naming_all_of_them() -> None:
    with pytest.raises(UnmappedClassError) as err:
        ClassMapping.build(["pothole", "D00", "zebra"], {"pothole": "pothole"})
    assert "D00" in str(err.value) and "zebra" in str(err.value)
    with pytest.raises(UnmappedClassError, match="car -> parked_car"):
        ClassMapping.build(["car"], {"car": "parked_car"})
