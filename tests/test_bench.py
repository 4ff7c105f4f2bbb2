"""`roadsight bench --quick` produces every figure and writes the docs table."""

from __future__ import annotations

import json
import math
import os
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
    "decode alone (GStreamer to NumPy BGR)",
    "  decode CPU per frame",
    "  per frame: detect",
    "  per frame: preprocess",
    "  per frame: inference",
    "  per frame: postprocess",
    "  per frame: geo",
    "  per frame: tracking",
    "  per frame: evidence",
    "  per frame: store",
    "  per frame: publish",
    "  CPU, end to end",
    "pipeline efficiency (end to end / model-only bound)",
    "  efficiency by CPU time (model / end to end, per frame)",
    "model only, CPU per inference",
    "  CPU per frame, end to end",
    "Ultralytics YOLO.predict(stream=True)",
    "roadsight / Ultralytics (headline)",
    "  roadsight / Ultralytics by CPU time per frame",
    "end to end, live configuration",
    "capture-to-store latency p50 at 80 % load",
    "capture-to-store latency p95 at 80 % load",
    "  live frames processed / dropped",
    "  CPU, live at 80 % load",
    "soak: peak RSS",
    "soak: RSS growth after warm-up",
]
# Every figure is a positive measurement but these (a drop, a growth can be 0 or negative; stage times 0).
MAY_BE_ZERO_OR_NEGATIVE = {
    "INT8 mAP50 drop",
    "  per frame: store",
    "  per frame: tracking",
    "  per frame: evidence",
    "  per frame: publish",
    "soak: RSS growth after warm-up",
}


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
    for name in EXPECTED:
        if name not in MAY_BE_ZERO_OR_NEGATIVE:
            assert figures[name]["value"] > 0, figures[name]
    assert math.isfinite(figures["soak: RSS growth after warm-up"]["value"])
    if len(os.sched_getaffinity(0)) > 1:  # one inference worker per core: the bound as it runs them
        assert figures["model only, as the pipeline runs it"]["value"] > 0
    # The peer ran on exactly the frames roadsight processed.
    assert "(same frames)" in figures["Ultralytics YOLO.predict(stream=True)"]["note"]
    assert "cores" in report["machine"] and report["command"] == "roadsight bench --quick"
    text = docs.read_text()
    assert "old" not in text and "intro" in text and "footer" in text
    assert "| end to end (decode, detect, geo, store) |" in text
