"""Test models for the detect stage.

* :func:`constant_head_model`: a hand-built ONNX graph (no Ultralytics needed)
  that ignores its pixels and returns a given YOLO head output, with
  Ultralytics-style metadata. Lets tests choose scores and boxes exactly.
* :func:`train_tiny_yolo`: a real YOLO11n checkpoint, trained by Ultralytics for
  two one-batch epochs on a few synthetic images, then made to *output boxes*:
  two iterations leave the BatchNorm running statistics at their initial
  values (so every frame gives the same output) and the class-score biases at
  their prior of about -6 (scores around 0.003). We therefore recompute the
  BatchNorm statistics from one forward pass over the training images and
  raise the class biases by :data:`CLASS_BIAS_SHIFT`, giving input-dependent
  outputs with scores spread over (0, 1). The boxes are meaningless, which
  does not matter for checking that two inference paths agree.
* :func:`export_yolov5_onnx` / fixture :func:`yolov5n_coco_onnx`: the official
  COCO YOLOv5n checkpoint (``../shared/models/yolov5n-coco``) exported to ONNX
  the way the YOLOv5 repository's ``export.py`` does (anchor-based head output
  ``(B, N, 85)``, metadata ``stride`` and ``names`` only), with the ``yolov5``
  package's model code, once, cached in ``.cache/yolov5`` under the
  checkpoint's hash.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator, Sequence
from pathlib import Path

import cv2
import numpy as np
import onnx
import pytest
import yaml
from onnx import TensorProto, helper, numpy_helper

SHARED = Path(__file__).resolve().parents[2] / "shared"
YOLOV5N_COCO_PT = SHARED / "models/yolov5n-coco/yolov5n.pt"
CACHE = Path(os.environ.get("ROADSIGHT_CACHE", Path(__file__).resolve().parents[1] / ".cache"))
YOLOV5_EXPORT_VERSION = 2  # bump when export_yolov5_onnx changes, to refresh the cache
TINY_NAMES = ("pothole", "patch", "garbage_pile")  # taxonomy ids 4, 8, 25: model order = taxonomy order
CLASS_BIAS_SHIFT = 3.0
_COLOURS = ((0, 0, 255), (0, 255, 0), (255, 0, 0))


def constant_head_model(
    path: Path,
    head: np.ndarray,
    names: Sequence[str],
    *,
    imgsz: tuple[int, int] = (64, 64),
    batch: int | str = "batch",
    metadata: dict[str, str] | None = None,
) -> Path:
    """Write an ONNX model whose output is ``head`` (``(1, C, N)``) repeated over the input batch.

    ``batch`` is a fixed batch size or a symbolic name (dynamic). ``metadata`` overrides or removes
    (value ``""``) the default Ultralytics-style keys.
    """
    head = np.asarray(head, np.float32)
    const = numpy_helper.from_array(head, "head")
    zero = numpy_helper.from_array(np.zeros(1, np.float32), "zero")
    axes = numpy_helper.from_array(np.array([1, 2, 3], np.int64), "axes")
    nodes = [
        # (B, 1, 1, 1) zeros that depend on the input, so the output batch follows the input batch
        helper.make_node("ReduceSum", ["images", "axes"], ["s4"], keepdims=1),
        helper.make_node("Squeeze", ["s4", "sq_axes"], ["s"]),  # (B,)
        helper.make_node("Mul", ["s", "zero"], ["z"]),
        helper.make_node("Unsqueeze", ["z", "sq_axes2"], ["z3"]),  # (B, 1, 1)
        helper.make_node("Add", ["z3", "head"], ["output0"]),
    ]
    inits = [
        const,
        zero,
        axes,
        numpy_helper.from_array(np.array([1, 2, 3], np.int64), "sq_axes"),
        numpy_helper.from_array(np.array([1, 2], np.int64), "sq_axes2"),
    ]
    graph = helper.make_graph(
        nodes,
        "constant_head",
        [helper.make_tensor_value_info("images", TensorProto.FLOAT, [batch, 3, *imgsz])],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, [batch, head.shape[1], head.shape[2]])],
        initializer=inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    meta = {
        "names": str(dict(enumerate(names))),
        "imgsz": str(list(imgsz)),
        "stride": "32",
        "task": "detect",
        "batch": str(batch if isinstance(batch, int) else 1),
        **(metadata or {}),
    }
    for key, value in meta.items():
        if value != "":
            prop = model.metadata_props.add()
            prop.key, prop.value = key, value
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def head_from_boxes(xyxy: np.ndarray, scores: np.ndarray, n_anchors: int | None = None) -> np.ndarray:
    """A ``(1, 4 + nc, N)`` head output from input-pixel xyxy boxes and ``(N, nc)`` class scores."""
    xyxy = np.asarray(xyxy, np.float32)
    scores = np.asarray(scores, np.float32)
    n = n_anchors or len(xyxy)
    head = np.zeros((1, 4 + scores.shape[1], n), np.float32)
    k = len(xyxy)
    head[0, 0, :k] = (xyxy[:, 0] + xyxy[:, 2]) / 2
    head[0, 1, :k] = (xyxy[:, 1] + xyxy[:, 3]) / 2
    head[0, 2, :k] = xyxy[:, 2] - xyxy[:, 0]
    head[0, 3, :k] = xyxy[:, 3] - xyxy[:, 1]
    head[0, 4:, :k] = scores.T
    return head


def synthetic_frames(n: int, shapes: Sequence[tuple[int, int]], seed: int = 0) -> list[np.ndarray]:
    """``n`` BGR frames of the given (h, w) shapes (cycled): noisy grey with coloured rectangles."""
    rng = np.random.default_rng(seed)
    frames = []
    for i in range(n):
        h, w = shapes[i % len(shapes)]
        img = (90 + rng.integers(0, 30, (h, w, 3))).astype(np.uint8)
        for _ in range(3):
            bw, bh = int(rng.integers(w // 8, w // 3)), int(rng.integers(h // 8, h // 3))
            x, y = int(rng.integers(0, w - bw)), int(rng.integers(0, h - bh))
            cv2.rectangle(img, (x, y), (x + bw, y + bh), _COLOURS[int(rng.integers(3))], -1)
        frames.append(img)
    return frames


def write_tiny_dataset(root: Path, n_images: int = 8, size: int = 160, seed: int = 0) -> Path:
    """A YOLO-format data set of coloured rectangles, one class per colour; returns its data.yaml."""
    rng = np.random.default_rng(seed)
    images, labels = root / "images" / "train", root / "labels" / "train"
    images.mkdir(parents=True)
    labels.mkdir(parents=True)
    for i in range(n_images):
        img = (90 + rng.integers(0, 30, (size, size, 3))).astype(np.uint8)
        rows = []
        for _ in range(3):
            c = int(rng.integers(len(TINY_NAMES)))
            w, h = (int(v) for v in rng.integers(20, 60, 2))
            x, y = int(rng.integers(0, size - w)), int(rng.integers(0, size - h))
            cv2.rectangle(img, (x, y), (x + w, y + h), _COLOURS[c], -1)
            rows.append(
                f"{c} {(x + w / 2) / size:.6f} {(y + h / 2) / size:.6f} {w / size:.6f} {h / size:.6f}"
            )
        cv2.imwrite(str(images / f"{i}.png"), img)
        (labels / f"{i}.txt").write_text("\n".join(rows) + "\n")
    data = root / "data.yaml"
    data.write_text(
        yaml.safe_dump(
            {
                "path": str(root),
                "train": "images/train",
                "val": "images/train",
                "names": dict(enumerate(TINY_NAMES)),
            }
        )
    )
    return data


def train_tiny_yolo(work: Path) -> Path:
    """Train YOLO11n (from its yaml, random init) briefly and make it output boxes; returns a ``.pt``."""
    import torch
    from ultralytics import YOLO

    data = write_tiny_dataset(work / "data")
    model = YOLO("yolo11n.yaml")
    model.train(
        data=str(data), epochs=2, imgsz=160, batch=8, workers=0, device="cpu", plots=False, val=False,
        amp=False, project=str(work / "runs"), name="tiny", exist_ok=True, verbose=False, seed=0,
        deterministic=True,
    )  # fmt: skip
    weights = work / "runs" / "tiny" / "weights" / "last.pt"
    ckpt = torch.load(weights, weights_only=False)
    net = ckpt["model"].float()
    frames = [
        np.asarray(cv2.imread(str(p))) for p in sorted((work / "data" / "images" / "train").glob("*.png"))
    ]
    rgb_nchw = np.stack([f[..., ::-1].transpose(2, 0, 1) for f in frames]).astype(np.float32) / 255
    batch = torch.from_numpy(rgb_nchw)
    for module in net.modules():
        if isinstance(module, torch.nn.BatchNorm2d):
            module.reset_running_stats()
            module.momentum = None  # cumulative average: the statistics of this one pass
    net.train()
    with torch.no_grad():
        net(batch)
    net.eval()
    for branch in net.model[-1].cv3:  # class-score branches of the Detect head, one per stride
        branch[-1].bias.data += CLASS_BIAS_SHIFT
    ckpt["model"] = net.half()
    ckpt["ema"] = None  # Ultralytics loads "ema" before "model" when present
    out = work / "tiny.pt"
    torch.save(ckpt, out)
    return out


def export_yolov5_onnx(weights: Path, out: Path, imgsz: int = 640) -> Path:
    """Export an original YOLOv5 ``.pt`` to ONNX as YOLOv5's ``export.py --include onnx`` does.

    YOLOv5's own ``export.run`` cannot be used as is with torch 2.14: it calls ``torch.onnx.export``
    without ``dynamo=False`` (the dynamo exporter needs ``onnxscript``), and its checkpoint loader
    predates ``torch.load(weights_only=True)``. So this repeats its steps with the ``yolov5`` package's
    own model code: fused model, ``Detect.export = True`` (raw ``(B, N, 5 + nc)`` output), opset 17,
    metadata ``stride`` and ``names``. The input is fixed at ``imgsz`` square with a dynamic batch:
    YOLOv5's ``--dynamic`` graph bakes the anchor grid of the trace size into the ONNX and fails on
    any other height or width (ONNX Runtime: "Attempting to broadcast an axis ... 12 by 20").
    """
    import torch
    from yolov5.models.experimental import attempt_load
    from yolov5.models.yolo import Detect

    previous = os.environ.get("TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD")
    os.environ["TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"] = "1"  # the checkpoint's sha256 is in its SOURCE.md
    try:
        model = attempt_load(str(weights), device=torch.device("cpu"), inplace=True, fuse=True)
    finally:
        if previous is None:
            del os.environ["TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"]
        else:
            os.environ["TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD"] = previous
    model.eval()
    for module in model.modules():
        if isinstance(module, Detect):
            module.inplace, module.export = True, True
    image = torch.zeros(1, 3, imgsz, imgsz)
    with torch.no_grad():
        model(image)  # dry run builds the anchor grids, as export.py does
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_suffix(".tmp.onnx")
    torch.onnx.export(
        model, (image,), str(tmp), opset_version=17, do_constant_folding=True, input_names=["images"],
        output_names=["output0"], dynamo=False,
        dynamic_axes={"images": {0: "batch"}, "output0": {0: "batch"}},
    )  # fmt: skip
    proto = onnx.load(str(tmp))
    for key, value in {"stride": int(max(model.stride)), "names": model.names}.items():
        prop = proto.metadata_props.add()
        prop.key, prop.value = key, str(value)
    onnx.checker.check_model(proto)
    onnx.save(proto, str(tmp))
    tmp.replace(out)
    return out


@pytest.fixture(scope="session")
def yolov5n_coco_onnx() -> Iterator[Path]:
    """The COCO YOLOv5n as a YOLOv5-layout ONNX, exported once per checkpoint hash into ``.cache``."""
    if not YOLOV5N_COCO_PT.is_file():
        pytest.skip(f"COCO YOLOv5n checkpoint not found at {YOLOV5N_COCO_PT} (../shared is absent)")
    digest = hashlib.sha256(YOLOV5N_COCO_PT.read_bytes()).hexdigest()[:16]
    out = CACHE / "yolov5" / f"yolov5n-coco-{digest}-v{YOLOV5_EXPORT_VERSION}.onnx"
    if not out.is_file():
        pytest.importorskip("yolov5", reason="exporting YOLOv5 needs the yolov5 package (the train extra)")
        export_yolov5_onnx(YOLOV5N_COCO_PT, out)
    yield out
