"""Training wrapper around Ultralytics, writing a model card next to the weights.

Ultralytics (and torch) are the optional ``train`` extra, so they are imported
lazily: the edge pipeline never needs them.

Example (shell):
    roadsight train --data data/sim-dataset/data.yaml --epochs 40 --imgsz 640
"""

from __future__ import annotations

import json
import platform
import shlex
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from taxonomy import ClassMapping


class TrainError(ValueError):
    """Training could not start: bad data file, unmapped classes, missing extra."""


@dataclass
class TrainResult:
    """Where the results are and what they scored."""

    weights: Path
    onnx: Path | None
    model_card: Path
    metrics: dict[str, float] = field(default_factory=dict)
    per_class_map50: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0


def _read_data_yaml(data: Path) -> dict[str, Any]:
    try:
        raw = yaml.safe_load(data.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise TrainError(f"{data}: data file not found") from None
    except yaml.YAMLError as exc:
        raise TrainError(f"{data}: not valid YAML: {exc}") from None
    if not isinstance(raw, dict) or "names" not in raw:
        raise TrainError(f"{data}: names: missing (an Ultralytics data.yaml needs class names)")
    for key in ("train", "val"):
        if key not in raw:
            raise TrainError(f"{data}: {key}: missing")
    return raw


def _count_images(data: Path, raw: dict[str, Any], split: str) -> int:
    root = Path(raw.get("path") or data.parent)
    if not root.is_absolute():
        root = data.parent / root
    entries = raw[split] if isinstance(raw[split], list) else [raw[split]]
    total = 0
    for entry in entries:
        folder = root / str(entry)
        if folder.is_dir():
            total += sum(1 for p in folder.iterdir() if p.suffix.lower() in {".jpg", ".jpeg", ".png"})
    return total


def train(
    data: Path,
    *,
    model: str = "yolo11n.yaml",
    epochs: int = 40,
    imgsz: int = 640,
    batch: int = 16,
    out: Path = Path("runs/train"),
    name: str = "roadsight",
    device: str = "cpu",
    workers: int = 2,
    seed: int = 0,
    patience: int = 20,
    close_mosaic: int = 10,
    export_onnx: bool = True,
    export_imgsz: int | None = None,
    command: str | None = None,
) -> TrainResult:
    """Train a YOLO model on ``data`` and write weights, ONNX and a model card.

    The data set's class names must be taxonomy keys (or be mapped by the
    data file's optional ``roadsight_class_map``), checked before training
    starts so a long run never ends in a model the pipeline cannot load.
    """
    data = Path(data).resolve()
    raw = _read_data_yaml(data)
    names = raw["names"]
    try:
        ClassMapping.build(names, raw.get("roadsight_class_map"))
    except ValueError as exc:
        raise TrainError(f"{data}: names: {exc}") from None
    try:
        from ultralytics import YOLO
    except ImportError:
        raise TrainError("training needs the 'train' extra: pip install 'roadsight[train]'") from None

    out = Path(out).resolve()
    started = time.perf_counter()
    yolo = YOLO(model)
    yolo.train(
        data=str(data),
        epochs=epochs,
        imgsz=imgsz,
        batch=batch,
        device=device,
        workers=workers,
        seed=seed,
        deterministic=True,
        patience=patience,
        close_mosaic=close_mosaic,
        project=str(out),
        name=name,
        exist_ok=True,
        # A .pt start keeps its weights (e.g. a COCO backbone); a .yaml starts from scratch.
        pretrained=str(model).endswith(".pt"),
        amp=False,
        plots=False,
        verbose=True,
    )
    seconds = time.perf_counter() - started
    trainer = yolo.trainer
    assert trainer is not None
    run_dir = Path(trainer.save_dir)
    best = run_dir / "weights" / "best.pt"
    weights = best if best.exists() else run_dir / "weights" / "last.pt"

    # Validate the best weights once more to report final, per-class figures.
    best_model = YOLO(str(weights))
    val = best_model.val(data=str(data), imgsz=imgsz, batch=batch, device=device, plots=False, verbose=False)
    metrics = {
        "precision": float(val.box.mp),
        "recall": float(val.box.mr),
        "mAP50": float(val.box.map50),
        "mAP50-95": float(val.box.map),
    }
    names_by_index = best_model.names
    per_class = {
        str(names_by_index[int(c)]): float(v)
        for c, v in zip(val.box.ap_class_index, val.box.ap50, strict=False)
    }

    onnx_path: Path | None = None
    if export_onnx:
        # Dynamic axes: the pipeline picks the input size at run time (e.g. a
        # model trained on 320 px tiles runs on whole 960 px frames).
        exported = best_model.export(
            format="onnx", imgsz=export_imgsz or imgsz, dynamic=True, simplify=True, opset=17
        )
        onnx_path = Path(str(exported))
        import onnx

        from detect.dfl_rewrite import rewrite_dfl_softmax

        graph = onnx.load(str(onnx_path))
        if rewrite_dfl_softmax(graph):  # same outputs, faster in ONNX Runtime
            onnx.save(graph, str(onnx_path))

    card = run_dir / "MODEL_CARD.md"
    card.write_text(
        render_model_card(
            data=data,
            raw=raw,
            model=model,
            epochs=epochs,
            imgsz=imgsz,
            batch=batch,
            device=device,
            seed=seed,
            metrics=metrics,
            per_class=per_class,
            seconds=seconds,
            command=command or " ".join(shlex.quote(a) for a in sys.argv),
        ),
        encoding="utf-8",
    )
    (run_dir / "metrics.json").write_text(
        json.dumps({"metrics": metrics, "per_class_map50": per_class, "seconds": seconds}, indent=2),
        encoding="utf-8",
    )
    return TrainResult(
        weights=weights,
        onnx=onnx_path,
        model_card=card,
        metrics=metrics,
        per_class_map50=per_class,
        seconds=seconds,
    )


def render_model_card(
    *,
    data: Path,
    raw: dict[str, Any],
    model: str,
    epochs: int,
    imgsz: int,
    batch: int,
    device: str,
    seed: int,
    metrics: dict[str, float],
    per_class: dict[str, float],
    seconds: float,
    command: str,
) -> str:
    """A short Markdown model card: data, classes, command, metrics."""
    import torch
    import ultralytics

    names = raw["names"]
    name_list = [names[k] for k in sorted(names)] if isinstance(names, dict) else list(names)
    rows = "\n".join(f"| {n} | {per_class.get(n, float('nan')):.3f} |" for n in name_list)
    return f"""# Model card

- Architecture: `{Path(model).name}` (Ultralytics {ultralytics.__version__}, torch {torch.__version__}),
  {"fine-tuned from these weights" if str(model).endswith(".pt") else "trained from scratch"},
  input {imgsz} px, {epochs} epochs max,
  batch {batch}, seed {seed}, on `{device}` ({platform.processor() or platform.machine()}),
  {seconds / 60:.1f} min.
- Data: `{data.name}` with {_count_images(data, raw, "train")} training and
  {_count_images(data, raw, "val")} validation images.
- Classes ({len(name_list)}, taxonomy keys): {", ".join(name_list)}.
- Command: `{command}`

## Validation metrics

| metric | value |
|---|---|
| precision | {metrics["precision"]:.3f} |
| recall | {metrics["recall"]:.3f} |
| mAP50 | {metrics["mAP50"]:.3f} |
| mAP50-95 | {metrics["mAP50-95"]:.3f} |

| class | AP50 |
|---|---|
{rows}
"""
