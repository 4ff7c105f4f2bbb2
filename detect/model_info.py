"""What an Ultralytics ONNX export says about itself: classes, input size, stride, batch.

Ultralytics writes its metadata as ONNX ``metadata_props`` string values:
``names`` is a Python dict literal (``"{0: 'pothole', 1: 'patch'}"``),
``imgsz`` a list literal (``"[640, 640]"``, height first), ``stride``/``batch``
integers, ``task`` a word, ``args`` a dict literal of export arguments and
``end2end`` a bool literal. The graph's own input shape says which axes are
dynamic (a string dimension such as ``"batch"``).

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
from typing import Any

import numpy as np
import onnxruntime as ort

from detect.errors import DetectError

_ORT_DTYPES: dict[str, type[np.floating[Any]]] = {"tensor(float)": np.float32, "tensor(float16)": np.float16}


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
    return ModelInfo(
        path=path,
        names=_parse_names(path, meta),
        stride=_parse_int(path, meta, "stride", 32),
        input_name=inp.name,
        input_dtype=_ORT_DTYPES[inp.type],
        input_hw=(height, width) if isinstance(height, int) and isinstance(width, int) else None,
        meta_imgsz=_parse_imgsz(path, meta),
        static_batch=batch if isinstance(batch, int) and batch > 0 else None,
        end2end=end2end,
    )
