"""`roadsight bench --quick` produces every figure and writes the docs table."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

EXPECTED = [
    "model only (ONNX Runtime, pre-made tensor)",
    "detector (letterbox + model + NMS)",
    "geo-referencing (columnar)",
    "GeoPackage store writes",
    "end to end (decode, detect, geo, store)",
    "INT8 / FP32 speed, model only (1 thread)",
    "INT8 mAP50 drop",
    "geo-referencing + GeoEvent records",
    "  per frame: detect",
    "  per frame: geo",
    "  per frame: store",
]


def test_bench_quick_produces_every_figure(tmp_path: Path) -> None:
    docs = tmp_path / "benchmarks.md"
    docs.write_text("# Benchmarks\n\nintro\n\n<!-- bench:begin -->\nold\n<!-- bench:end -->\n\nfooter\n")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "roadsight",
            "bench",
            "--quick",
            "--json",
            str(tmp_path / "b.json"),
            "--docs",
            str(docs),
        ],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads((tmp_path / "b.json").read_text())
    figures = {f["name"]: f for f in report["figures"]}
    for name in EXPECTED:
        assert name in figures, name
    for name in EXPECTED[:5]:
        assert figures[name]["value"] > 0, figures[name]
    assert "cores" in report["machine"] and report["command"] == "roadsight bench --quick"
    text = docs.read_text()
    assert "old" not in text and "intro" in text and "footer" in text
    assert "| end to end (decode, detect, geo, store) |" in text
