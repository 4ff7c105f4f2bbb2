"""What an Ultralytics ONNX export says about itself: classes, input size, stride, batch.

Ultralytics writes its metadata as ONNX ``metadata_props`` string values:
``names`` is a Python dict literal (``"{0: 'pothole', 1: 'patch'}"``),
``imgsz`` a list literal (``"[640, 640]"``, height first), ``stride``/``batch``
integers, ``task`` a word, ``args`` a dict literal of export arguments and
``end2end`` a bool literal. The graph's own input shape says which axes are
dynamic (a string dimension such as ``"batch"``).

The output layout comes from the output shape and the metadata (see
:func:`output_layout`): Ultralytics' anchor-free ``(B, 4 + nc, N)``, the
original YOLOv5 export's anchor-based ``(B, N, 5 + nc)`` (whose metadata holds
only ``stride`` and ``names``), or end-to-end ``(B, max_det, 6)``.

Example:
    >>> import onnxruntime as ort  # doctest: +SKIP
    >>> info = read_model_info(ort.InferenceSession("best.onnx"), "best.onnx")  # doctest: +SKIP
    >>> info.names, info.input_hw  # doctest: +SKIP
    (('pothole', 'patch'), (640, 640))
"""

from __future__ import annotations

import ast
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any

import numpy as np
import onnxruntime as ort

from detect.errors import DetectError

_ORT_DTYPES: dict[str, type[np.floating[Any]]] = {"tensor(float)": np.float32, "tensor(float16)": np.float16}


class OutputLayout(Enum):
    """How a detection head lays out its raw output."""

    ANCHOR_FREE = "anchor_free"  # YOLOv8/11/26: (B, 4 + nc, N), rows cx cy w h, class scores
    ANCHOR_BASED = "anchor_based"  # YOLOv5 export: (B, N, 5 + nc), columns cx cy w h, objectness, scores
    END2END = "end2end"  # NMS in the graph: (B, max_det, 6), columns x1 y1 x2 y2 score class


@dataclass(frozen=True, slots=True)
class ModelInfo:
    """A detection model's interface, read from its ONNX metadata and graph."""

    path: str
    names: tuple[str, ...]  # model class names, by model class index
    stride: int
    input_name: str
    input_dtype: type[np.floating[Any]]
    input_hw: tuple[int, int] | None  # fixed input size from the graph, None if height/width are dynamic
    meta_imgsz: tuple[int, int] | None  # export image size from the metadata
    static_batch: int | None  # fixed batch size, None for a dynamic batch axis
    end2end: bool  # output (B, max_det, 6) with NMS done in the graph
    anchor_based: bool = False  # output (B, N, 5 + nc) with objectness (YOLOv5 export)

    @property
    def layout(self) -> OutputLayout:
        """The raw output layout that post-processing decodes."""
        if self.end2end:
            return OutputLayout.END2END
        return OutputLayout.ANCHOR_BASED if self.anchor_based else OutputLayout.ANCHOR_FREE


def _literal(path: str, key: str, text: str) -> Any:
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError) as exc:
        raise DetectError(f"{path}: metadata key {key!r} is not a Python literal: {text!r}") from exc


def _parse_names(path: str, meta: Mapping[str, str]) -> tuple[str, ...]:
    if "names" not in meta:
        raise DetectError(
            f"{path}: no 'names' in the ONNX metadata; export the model with Ultralytics "
            "(or detect.export_onnx) so that its class names travel with it"
        )
    names = _literal(path, "names", meta["names"])
    if isinstance(names, list | tuple):
        names = dict(enumerate(names))
    if (
        not isinstance(names, dict)
        or not names
        or not all(isinstance(k, int) and isinstance(v, str) for k, v in names.items())
        or sorted(names) != list(range(len(names)))
    ):
        raise DetectError(f"{path}: metadata key 'names' must map 0..n-1 to names, got {meta['names']!r}")
    return tuple(names[i] for i in range(len(names)))


def _parse_imgsz(path: str, meta: Mapping[str, str]) -> tuple[int, int] | None:
    if "imgsz" not in meta:
        return None
    value = _literal(path, "imgsz", meta["imgsz"])
    if isinstance(value, int):
        value = [value, value]
    is_hw = isinstance(value, list | tuple) and len(value) == 2
    if not (is_hw and all(isinstance(v, int) and v > 0 for v in value)):
        raise DetectError(f"{path}: metadata key 'imgsz' must be [height, width], got {meta['imgsz']!r}")
    return int(value[0]), int(value[1])


def _parse_int(path: str, meta: Mapping[str, str], key: str, default: int) -> int:
    if key not in meta:
        return default
    try:
        return int(meta[key])
    except ValueError:
        raise DetectError(f"{path}: metadata key {key!r} must be an integer, got {meta[key]!r}") from None


def output_layout(
    path: str, shape: list[Any], n_classes: int, end2end_meta: bool, ultralytics_meta: bool
) -> OutputLayout:
    """The layout of a ``(B, D1, D2)`` detection output; dynamic dimensions are strings or None.

    End-to-end when the metadata says so (``end2end``, or exported with ``nms=True``). Otherwise
    anchor-free when ``D1 == 4 + nc`` and anchor-based when ``D2 == 5 + nc``. Where the shape does
    not decide, the metadata does: Ultralytics writes ``task`` (anchor-free), the YOLOv5 export only
    ``stride`` and ``names``. That is the case for a head with about as many anchors as channels,
    ``(B, 4 + nc, 5 + nc)``, and for YOLOv5's ``--dynamic`` export, whose output is
    ``(batch, anchors, <dynamic>)`` (post-processing checks the channel count on the first output).
    Anything else raises :class:`DetectError` naming the shape.
    """
    if len(shape) != 3:
        raise DetectError(f"{path}: output shape {shape} is not (batch, rows, columns) of a detection head")
    _, d1, d2 = shape
    if end2end_meta:
        if isinstance(d2, int) and d2 != 6:
            raise DetectError(f"{path}: output shape {shape} does not fit an end-to-end head (B, max_det, 6)")
        return OutputLayout.END2END
    free, based = d1 == 4 + n_classes, d2 == 5 + n_classes
    if not (free or based) and not isinstance(d1, int) and not isinstance(d2, int):
        free, based = True, True  # fully dynamic: the metadata decides
    if free and (not based or ultralytics_meta):
        return OutputLayout.ANCHOR_FREE
    if based:
        return OutputLayout.ANCHOR_BASED
    raise DetectError(
        f"{path}: output shape {shape} does not fit a YOLO detection head with {n_classes} classes: "
        f"expected (B, {4 + n_classes}, N) anchor-free or (B, N, {5 + n_classes}) anchor-based (YOLOv5)"
    )


def read_model_info(session: ort.InferenceSession, path: str) -> ModelInfo:
    """Read and check the metadata and input signature of a loaded Ultralytics ONNX detection model."""
    meta = session.get_modelmeta().custom_metadata_map
    task = meta.get("task", "detect")
    if task != "detect":
        raise DetectError(f"{path}: metadata key 'task' is {task!r}; only 'detect' models are supported")
    inputs = session.get_inputs()
    if len(inputs) != 1 or len(inputs[0].shape) != 4:
        raise DetectError(f"{path}: expected one NCHW image input, got {[(i.name, i.shape) for i in inputs]}")
    inp = inputs[0]
    if inp.type not in _ORT_DTYPES:
        raise DetectError(f"{path}: input {inp.name!r} has type {inp.type}; expected float or float16")
    batch, channels, height, width = inp.shape
    if channels != 3:
        raise DetectError(f"{path}: input {inp.name!r} has {channels} channels; expected 3 (RGB)")
    args = _literal(path, "args", meta["args"]) if "args" in meta else {}
    nms_in_graph = isinstance(args, dict) and args.get("nms") is True
    end2end = _literal(path, "end2end", meta.get("end2end", "False")) is True or nms_in_graph
    names = _parse_names(path, meta)
    shape = list(session.get_outputs()[0].shape)
    layout = output_layout(path, shape, len(names), end2end, ultralytics_meta="task" in meta)
    return ModelInfo(
        path=path,
        names=names,
        stride=_parse_int(path, meta, "stride", 32),
        input_name=inp.name,
        input_dtype=_ORT_DTYPES[inp.type],
        input_hw=(height, width) if isinstance(height, int) and isinstance(width, int) else None,
        meta_imgsz=_parse_imgsz(path, meta),
        static_batch=batch if isinstance(batch, int) and batch > 0 else None,
        end2end=end2end,
        anchor_based=layout is OutputLayout.ANCHOR_BASED,
    )
