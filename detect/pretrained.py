"""Initialise an Ultralytics YOLOv5nu detector from the original COCO-pretrained YOLOv5n weights.

The official ``yolov5n.pt`` (YOLOv5 v6.x release, see
``/work/shared/models/yolov5n-coco/SOURCE.md``) is a pickle of the YOLOv5
repository's own ``models.yolo.Model`` / ``models.common.*`` classes, which the
``ultralytics`` package cannot load. Its backbone and neck (layers 0..23) have
exactly the same layer structure, state_dict keys and tensor shapes as
Ultralytics' ``yolov5nu.yaml`` at the 'n' scale; only the detection head
(layer 24: anchor-based ``Detect`` there, anchor-free ``Detect`` here) differs.
This module reads the checkpoint's tensors with a restricted unpickler, copies
the backbone and neck tensors (weights, biases and BatchNorm running
statistics) into a freshly built YOLOv5nu model with ``nc`` classes, and leaves
the head freshly initialised.

Ultralytics and torch are the optional ``train`` extra, so they are imported
lazily.

Training from the transferred weights (Python)::

    from detect.pretrained import save_yolov5nu_init
    from ultralytics import YOLO

    init = save_yolov5nu_init(Path("/work/shared/models/yolov5n-coco/yolov5n.pt"),
                              Path("runs/init/yolov5nu-coco.pt"), nc=2, names=["pothole", "patch"])
    YOLO(init).train(data="data/sim-dataset/data.yaml", epochs=40, imgsz=640)

``YOLO(<.pt>).train()`` seeds the trainer's freshly built model from the loaded
checkpoint (``DetectionModel.load``: every tensor whose key and shape match),
so the COCO backbone and neck survive the trainer's rebuild. The ``YOLO``
object returned by :func:`yolov5nu_from_yolov5` is set up the same way (its
checkpoint is the in-memory model), so ``.train()`` on it also keeps them.
"""

from __future__ import annotations

import logging
import pickle
import re
import types
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import torch
    from ultralytics import YOLO

#: The Ultralytics model config whose backbone and neck match YOLOv5n ('n' scale from the name).
YOLOV5NU_CFG = "yolov5nu.yaml"
#: Refuse the transfer when fewer than this share of the backbone/neck tensors match.
MIN_MATCH_FRACTION = 0.9

log = logging.getLogger(__name__)

_LAYER_RE = re.compile(r"^model\.(\d+)\.")


class PretrainedError(ValueError):
    """The pretrained checkpoint is missing, unreadable, or does not fit the YOLOv5nu backbone/neck."""


@dataclass(frozen=True)
class TransferReport:
    """What :func:`transfer_yolov5_weights` copied.

    ``backbone_neck_total`` counts the target's state_dict entries in layers
    before the detection head (parameters, BatchNorm running mean/var and
    ``num_batches_tracked``); ``transferred`` those copied from the checkpoint.
    """

    transferred: int
    backbone_neck_total: int
    head_layer: int
    skipped: list[str] = field(default_factory=list)

    @property
    def fraction(self) -> float:
        """Share of the backbone/neck tensors that were copied."""
        return self.transferred / self.backbone_neck_total if self.backbone_neck_total else 0.0


# --- restricted loading of the original YOLOv5 pickle ---------------------------------------------

# Globals the YOLOv5 checkpoint may reference besides torch.nn modules and models.* classes.
_ALLOWED_GLOBALS = {
    ("collections", "OrderedDict"),
    ("builtins", "set"),
    ("__builtin__", "set"),
    ("builtins", "dict"),
    ("builtins", "list"),
    ("builtins", "tuple"),
    ("torch._utils", "_rebuild_tensor_v2"),
    ("torch._utils", "_rebuild_parameter"),
    ("torch._utils", "_rebuild_parameter_with_state"),
    ("torch", "Size"),
    ("torch", "device"),
}


def _stub_module_class() -> type:
    """An ``nn.Module`` subclass that accepts whatever state the pickle gives it."""
    from torch import nn

    class _YoloV5Stub(nn.Module):
        """Stand-in for a YOLOv5 repository class (``models.yolo.*`` / ``models.common.*``)."""

        def __setstate__(self, state: Any) -> None:
            if isinstance(state, dict):
                nn.Module.__setstate__(self, state)
            else:  # not expected from YOLOv5, kept so odd states cannot break loading
                nn.Module.__setstate__(self, {"_stub_state": state})

        def forward(self, *args: Any, **kwargs: Any) -> Any:
            raise PretrainedError(f"{type(self).__name__} is a weight-only stub of a YOLOv5 class")

    return _YoloV5Stub


def _restricted_pickle_module() -> types.ModuleType:
    """A ``pickle``-like module for ``torch.load`` that maps ``models.*`` to stubs and refuses the rest."""
    from torch import nn

    stub_base = _stub_module_class()
    stubs: dict[tuple[str, str], type] = {}

    class _Unpickler(pickle.Unpickler):
        def find_class(self, module: str, name: str) -> Any:
            if module == "models" or module.startswith("models."):
                key = (module, name)
                if key not in stubs:
                    stubs[key] = type(name, (stub_base,), {"__module__": f"yolov5_stub.{module}"})
                return stubs[key]
            if (module, name) in _ALLOWED_GLOBALS:
                return super().find_class(module, name)
            if module == "torch" and name.endswith("Storage"):
                return super().find_class(module, name)
            if module.startswith("torch.nn.modules."):
                obj = super().find_class(module, name)
                if isinstance(obj, type) and issubclass(obj, nn.Module):
                    return obj
            raise pickle.UnpicklingError(f"global '{module}.{name}' is not allowed in a YOLOv5 checkpoint")

    mod = types.ModuleType("roadsight_yolov5_pickle")
    mod.Unpickler = _Unpickler  # type: ignore[attr-defined]
    mod.load = pickle.load  # type: ignore[attr-defined]
    mod.loads = pickle.loads  # type: ignore[attr-defined]
    return mod


def load_yolov5_state_dict(checkpoint: Path) -> dict[str, torch.Tensor]:
    """Read the model state_dict (fp32 on CPU) of an original YOLOv5 ``.pt`` checkpoint.

    Raises:
        PretrainedError: the file is missing, is not a YOLOv5 checkpoint, or references
            globals outside the allowed set (only torch tensors/modules and ``models.*``
            classes, which become weight-only stubs).
    """
    import torch

    checkpoint = Path(checkpoint)
    if not checkpoint.is_file():
        raise PretrainedError(f"{checkpoint}: pretrained YOLOv5 checkpoint not found")
    try:
        ckpt = torch.load(
            checkpoint, map_location="cpu", pickle_module=_restricted_pickle_module(), weights_only=False
        )
    except (pickle.UnpicklingError, RuntimeError, EOFError, AttributeError, ImportError) as exc:
        raise PretrainedError(f"{checkpoint}: cannot read as a YOLOv5 checkpoint: {exc}") from None
    model = (ckpt.get("ema") or ckpt.get("model")) if isinstance(ckpt, dict) else None
    if not isinstance(model, torch.nn.Module):
        raise PretrainedError(f"{checkpoint}: model: missing (not a YOLOv5 training checkpoint)")
    return {
        k: v.detach().float() if v.is_floating_point() else v.detach() for k, v in model.state_dict().items()
    }


# --- transfer ----------------------------------------------------------------------------------------


def transfer_yolov5_weights(source: dict[str, torch.Tensor], target: torch.nn.Module) -> TransferReport:
    """Copy the backbone/neck tensors of a YOLOv5 state_dict into a YOLOv5nu ``DetectionModel``.

    A target tensor in layers ``0 .. head-1`` is copied when the source has the same
    key (same layer index and sub-module path) and the same shape; parameters and
    buffers (BatchNorm running mean/var, ``num_batches_tracked``) alike. The head
    layer is left as initialised.

    Raises:
        PretrainedError: fewer than :data:`MIN_MATCH_FRACTION` of the backbone/neck tensors matched.
    """
    import torch

    layers = getattr(target, "model", None)
    if not isinstance(layers, torch.nn.Sequential):
        raise PretrainedError("target: not an Ultralytics DetectionModel (no .model Sequential)")
    head = len(layers) - 1
    target_sd = target.state_dict()
    transferred = 0
    total = 0
    skipped: list[str] = []
    with torch.no_grad():
        for key, dst in target_sd.items():
            m = _LAYER_RE.match(key)
            if m is None or int(m.group(1)) >= head:
                continue
            total += 1
            src = source.get(key)
            if src is None or src.shape != dst.shape:
                skipped.append(key)
                continue
            dst.copy_(src.to(dtype=dst.dtype))
            transferred += 1
    report = TransferReport(transferred, total, head, skipped)
    if report.fraction < MIN_MATCH_FRACTION:
        raise PretrainedError(
            f"only {transferred} of {total} backbone/neck tensors matched the YOLOv5 checkpoint "
            f"(need {MIN_MATCH_FRACTION:.0%}); first unmatched: {skipped[:5]}"
        )
    return report


def yolov5nu_with_report(checkpoint: Path, nc: int, names: list[str]) -> tuple[YOLO, TransferReport]:
    """Like :func:`yolov5nu_from_yolov5`, also returning the :class:`TransferReport`."""
    if nc < 1 or len(names) != nc:
        raise PretrainedError(f"names: {len(names)} given for nc={nc} (need nc >= 1 names)")
    source = load_yolov5_state_dict(checkpoint)

    from ultralytics import YOLO
    from ultralytics.nn.tasks import DetectionModel

    net = DetectionModel(YOLOV5NU_CFG, nc=nc, verbose=False)
    scale = getattr(net, "yaml", {}).get("scale")
    if scale != "n":
        raise PretrainedError(f"{YOLOV5NU_CFG}: built scale {scale!r}, expected 'n'")
    net.names = dict(enumerate(names))
    report = transfer_yolov5_weights(source, net)
    net.eval()
    log.info(
        "%s: transferred %d/%d backbone/neck tensors into %s (nc=%d); head layer %d freshly initialised",
        checkpoint,
        report.transferred,
        report.backbone_neck_total,
        YOLOV5NU_CFG,
        nc,
        report.head_layer,
    )

    yolo = YOLO(YOLOV5NU_CFG, task="detect", verbose=False)
    yolo.model = net  # type: ignore[assignment]
    # Model.load(nn.Module) copies the (identical) state into self.model and records it as the
    # checkpoint, which is what makes YOLO.train() seed the trainer's rebuilt model from it.
    yolo.load(net)
    return yolo, report


def yolov5nu_from_yolov5(checkpoint: Path, nc: int, names: list[str]) -> YOLO:
    """A YOLOv5nu detector (``nc`` classes) with the backbone and neck of a COCO-pretrained YOLOv5n.

    Args:
        checkpoint: the original YOLOv5 ``yolov5n.pt``.
        nc: number of classes of the new detection head.
        names: class names, ``len(names) == nc``.

    Returns:
        An ``ultralytics.YOLO`` whose ``.model`` holds the transferred weights (fp32, eval
        mode). Its ``train()`` seeds the trainer's model from these weights; for a
        file-based start use :func:`save_yolov5nu_init`. The transferred tensor count is
        logged (``detect.pretrained`` logger) and returned by :func:`yolov5nu_with_report`.

    Raises:
        PretrainedError: missing/unreadable checkpoint, bad ``nc``/``names``, or too few tensors matched.
    """
    return yolov5nu_with_report(checkpoint, nc, names)[0]


def save_yolov5nu_init(checkpoint: Path, out_pt: Path, nc: int, names: list[str]) -> Path:
    """Write an Ultralytics ``.pt`` starting checkpoint: YOLOv5nu with the YOLOv5n COCO backbone/neck.

    ``YOLO(out_pt).train(data=...)`` fine-tunes from it: the trainer rebuilds the
    model from its yaml with the data set's ``nc`` and loads every tensor whose key
    and shape match (so a data set with a different class count only loses the
    head's class convolutions). Weights are stored in fp16, like Ultralytics' own
    checkpoints (the YOLOv5n weights are fp16 already, so they are stored exactly).

    Returns:
        ``out_pt``.
    """
    yolo = yolov5nu_from_yolov5(checkpoint, nc, names)
    out_pt = Path(out_pt)
    out_pt.parent.mkdir(parents=True, exist_ok=True)
    yolo.save(out_pt)
    return out_pt
