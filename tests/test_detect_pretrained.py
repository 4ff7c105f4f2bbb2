"""YOLOv5n (COCO) -> YOLOv5nu backbone/neck transfer, the saved init checkpoint, and training from it.

Needs the shared checkpoint ``/work/shared/models/yolov5n-coco/yolov5n.pt``
(next to the repository); the tests that read it skip when it is absent.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from detect.pretrained import (
    PretrainedError,
    load_yolov5_state_dict,
    save_yolov5nu_init,
    transfer_yolov5_weights,
    yolov5nu_from_yolov5,
    yolov5nu_with_report,
)

CKPT = Path(__file__).resolve().parents[2] / "shared/models/yolov5n-coco/yolov5n.pt"
NAMES = ["pothole", "patch"]

needs_ckpt = pytest.mark.skipif(
    not CKPT.is_file(), reason=f"COCO-pretrained YOLOv5n checkpoint not found at {CKPT}"
)


def _equal_backbone_neck(state: dict[str, Any], source: dict[str, Any]) -> int:
    """How many backbone/neck tensors (layers 0..23) of ``state`` equal the source checkpoint's exactly."""
    import torch

    return sum(
        1
        for k, v in state.items()
        if not k.startswith("model.24.") and k in source and torch.equal(v.float(), source[k].float())
    )


def _net(yolo: Any) -> Any:
    """The ``DetectionModel`` inside an ``ultralytics.YOLO``."""
    from ultralytics.nn.tasks import DetectionModel

    assert isinstance(yolo.model, DetectionModel)
    return yolo.model


@pytest.fixture(scope="module")
def source() -> dict[str, Any]:
    return load_yolov5_state_dict(CKPT)


@pytest.fixture(scope="module")
def init_pt(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return save_yolov5nu_init(CKPT, tmp_path_factory.mktemp("init") / "yolov5nu-coco.pt", len(NAMES), NAMES)


def test_missing_checkpoint_raises(tmp_path: Path) -> None:
    with pytest.raises(PretrainedError, match="not found"):
        yolov5nu_from_yolov5(tmp_path / "nope.pt", 2, NAMES)


def test_names_must_match_nc() -> None:
    with pytest.raises(PretrainedError, match="names"):
        yolov5nu_from_yolov5(CKPT, 3, NAMES)


@needs_ckpt
def test_transfer_copies_backbone_and_neck(source: dict[str, Any]) -> None:
    import torch

    yolo, report = yolov5nu_with_report(CKPT, len(NAMES), NAMES)
    net = _net(yolo)
    assert report.head_layer == 24
    assert report.fraction >= 0.9, report.skipped
    assert report.transferred == report.backbone_neck_total == 342  # every tensor of layers 0..23
    state = net.state_dict()
    assert _equal_backbone_neck(state, source) == report.transferred
    # BatchNorm running statistics come across too, not only parameters.
    key = "model.0.bn.running_var"
    assert torch.equal(state[key], source[key]) and not torch.all(state[key] == 1)
    assert net.yaml["nc"] == 2 and net.names == {0: "pothole", 1: "patch"}
    assert net.yaml["scale"] == "n"


@needs_ckpt
def test_too_few_matches_raise(source: dict[str, Any]) -> None:
    from ultralytics.nn.tasks import DetectionModel

    net = DetectionModel("yolov5nu.yaml", nc=2, verbose=False)
    half = {k: v for i, (k, v) in enumerate(source.items()) if i % 2}
    with pytest.raises(PretrainedError, match="backbone/neck tensors matched"):
        transfer_yolov5_weights(half, net)


@needs_ckpt
def test_saved_init_loads_keeps_weights_and_runs(init_pt: Path, source: dict[str, Any]) -> None:
    import torch
    from ultralytics import YOLO

    yolo = YOLO(init_pt)
    net = _net(yolo)
    assert yolo.task == "detect" and net.names == {0: "pothole", 1: "patch"}
    assert _equal_backbone_neck(net.state_dict(), source) == 342
    with torch.no_grad():
        out = net.eval()(torch.zeros(1, 3, 320, 320))
    pred = out[0] if isinstance(out, (list, tuple)) else out
    assert pred.shape == (1, 4 + len(NAMES), (40 * 40 + 20 * 20 + 10 * 10))


@needs_ckpt
def test_train_seeds_trainer_model_from_init(init_pt: Path, source: dict[str, Any], tmp_path: Path) -> None:
    """YOLO(init).train() rebuilds the model from its yaml; the COCO backbone/neck must survive that.

    Stops right after the trainer's setup (no epoch is run) and inspects the trainer's model.
    The data set has 3 classes (the init has 2): only the head's class convolutions differ.
    """
    import cv2
    import numpy as np
    from ultralytics import YOLO
    from ultralytics.nn.tasks import DetectionModel

    for split in ("train", "val"):
        (tmp_path / split / "images").mkdir(parents=True)
        (tmp_path / split / "labels").mkdir(parents=True)
        cv2.imwrite(str(tmp_path / split / "images/a.jpg"), np.full((64, 64, 3), 128, np.uint8))
        (tmp_path / split / "labels/a.txt").write_text("0 0.5 0.5 0.2 0.2\n")
    data = tmp_path / "data.yaml"
    data.write_text(f"path: {tmp_path}\ntrain: train/images\nval: val/images\nnames: {{0: a, 1: b, 2: c}}\n")

    class _Stop(Exception):
        pass

    def stop(_trainer: Any) -> None:
        raise _Stop

    yolo = YOLO(init_pt)
    yolo.add_callback("on_pretrain_routine_end", stop)
    with pytest.raises(_Stop):
        yolo.train(
            data=str(data), epochs=1, imgsz=64, batch=1, workers=0, device="cpu", amp=False,
            plots=False, val=False, project=str(tmp_path / "runs"), name="t",
        )  # fmt: skip
    assert yolo.trainer is not None
    model = yolo.trainer.model
    assert isinstance(model, DetectionModel)
    assert model.yaml["nc"] == 3
    assert _equal_backbone_neck(model.state_dict(), source) == 342


def test_foreign_globals_are_refused(tmp_path: Path) -> None:
    """The restricted unpickler only resolves torch tensors/modules and ``models.*`` stubs."""
    import os

    import torch

    bad = tmp_path / "bad.pt"
    torch.save({"model": os.getcwd}, bad)
    with pytest.raises(PretrainedError, match="not allowed"):
        load_yolov5_state_dict(bad)
