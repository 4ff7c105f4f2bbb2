"""Export trained YOLO weights to an ONNX file that :class:`OnnxDetector` can load.

Wraps Ultralytics' exporter (imported lazily: it belongs to the optional
``train`` extra) and then:

* with ``dynamic_batch=True`` pins the image height/width to ``imgsz`` so that
  only the batch axis stays dynamic (Ultralytics' ``dynamic=True`` frees all
  three). Ultralytics treats any symbolic axis as "dynamic" and then
  letterboxes to its default 640, so call ``YOLO(onnx).predict(..., imgsz=...)``
  with the export size on such a file (``OnnxDetector`` reads it by itself);
* rewrites the DFL box decoding with the bins on the last axis
  (:mod:`detect.dfl_rewrite`: identical outputs, a softmax ONNX Runtime runs
  several times faster);
* checks that the metadata the detector needs (``names``, ``imgsz``,
  ``stride``, ``task``) is in the file, filling in any that is missing;
* writes the result to ``out``.

Example:
    >>> export_onnx(Path("runs/best.pt"), Path("models/road.onnx"), imgsz=(384, 640))  # doctest: +SKIP
    PosixPath('models/road.onnx')
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

import onnxruntime as ort
from rich.console import Console

from detect.dfl_rewrite import rewrite_dfl_softmax
from detect.errors import DetectError
from detect.model_info import read_model_info

_console = Console(stderr=True)


def _say(message: str) -> None:
    _console.print(f"[bold cyan]export[/] {message}")


def _pin_image_size(model: Any, imgsz: tuple[int, int]) -> None:
    """Fix the input's height and width (axes 2, 3) to ``imgsz``; the batch axis stays symbolic."""
    dims = model.graph.input[0].type.tensor_type.shape.dim
    for dim, size in zip(list(dims)[2:4], imgsz, strict=True):
        dim.ClearField("dim_param")
        dim.dim_value = size


def ensure_metadata(model: Any, required: dict[str, str]) -> list[str]:
    """Fill in missing metadata keys; returns the keys added."""
    props = {p.key: p for p in model.metadata_props}
    added = []
    for key, value in required.items():
        if key not in props:
            prop = model.metadata_props.add()
            prop.key, prop.value = key, value
            added.append(key)
    return added


def load_staged_yolo(weights: Path, tmp: Path, stem: str) -> Any:
    """``ultralytics.YOLO`` on a copy of ``weights`` in ``tmp`` (Ultralytics writes its exports next to
    the weights: working on a copy leaves nothing beside the originals); checks it is a detector."""
    if not weights.is_file():
        raise DetectError(f"{weights}: weights file not found")
    try:
        from ultralytics import YOLO
    except ImportError as exc:
        raise DetectError(f"export needs the training extra (pip install 'roadsight[train]'): {exc}") from exc
    staged = tmp / f"{stem}{weights.suffix}"
    shutil.copyfile(weights, staged)
    _say(f"loading {weights}")
    model = YOLO(str(staged))
    if model.task != "detect":
        raise DetectError(f"{weights}: task is {model.task!r}; only detection models can be exported")
    return model


def export_onnx(
    weights: Path,
    out: Path,
    *,
    imgsz: int | tuple[int, int] = 640,
    dynamic_batch: bool = True,
    simplify: bool = True,
    half: bool = False,
    rewrite_dfl: bool = True,
) -> Path:
    """Export Ultralytics YOLO detection ``weights`` (``.pt``) to ONNX at ``out``; returns ``out``.

    Args:
        weights: trained weights (anything ``ultralytics.YOLO()`` loads).
        out: the ONNX file to write (parent folders are created).
        imgsz: input size, an int for square or (height, width), multiples of the model stride.
        dynamic_batch: leave the batch axis dynamic (image size stays fixed at ``imgsz``).
        simplify: run onnxslim on the graph.
        half: FP16 weights (inputs and outputs stay float32).
        rewrite_dfl: rewrite the DFL box decoding (:mod:`detect.dfl_rewrite`): same outputs, faster.

    Raises:
        DetectError: missing weights, Ultralytics not installed, a non-detection model, or a failed export.
    """
    weights, out = Path(weights), Path(out)
    if not weights.is_file():
        raise DetectError(f"{weights}: weights file not found")
    try:
        import onnx
    except ImportError as exc:
        raise DetectError(f"export needs the training extra (pip install 'roadsight[train]'): {exc}") from exc
    size = (imgsz, imgsz) if isinstance(imgsz, int) else (int(imgsz[0]), int(imgsz[1]))

    with tempfile.TemporaryDirectory(prefix="roadsight-export-") as tmp:
        model = load_staged_yolo(weights, Path(tmp), out.stem)
        _say(f"exporting to ONNX: imgsz={size} dynamic_batch={dynamic_batch} simplify={simplify} half={half}")
        try:
            produced = Path(
                model.export(
                    format="onnx",
                    imgsz=list(size),
                    dynamic=dynamic_batch,
                    simplify=simplify,
                    quantize=16 if half else None,
                    batch=1,
                    device="cpu",
                    verbose=False,
                )
            )
        except Exception as exc:  # Ultralytics raises many kinds; report them as one
            raise DetectError(f"{weights}: Ultralytics ONNX export failed: {exc}") from exc

        graph = onnx.load(str(produced))
        if rewrite_dfl and rewrite_dfl_softmax(graph):
            _say("DFL decoding rewritten with the bins last (exact; ONNX Runtime runs it faster)")
        if dynamic_batch:
            _pin_image_size(graph, size)
        stride = int(max(model.model.stride))
        required = {"names": str(dict(model.names)), "imgsz": str(list(size)), "stride": str(stride)}
        added = ensure_metadata(graph, {**required, "task": "detect"})
        if added:
            _say(f"added missing metadata keys {added}")
        out.parent.mkdir(parents=True, exist_ok=True)
        onnx.save(graph, str(out))
    # Load it back as the detector will. (Not onnx.checker: the FP16 pass appends its input casts
    # out of topological order, which ONNX Runtime accepts and the checker rejects.)
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    info = read_model_info(session, str(out))
    shape = session.get_inputs()[0].shape
    _say(f"wrote {out} ({out.stat().st_size / 1e6:.1f} MB, {len(info.names)} classes, input {shape})")
    return out
