#!/usr/bin/env python3
"""Score a model on the real road photos held out from the starter's training.

    .venv/bin/python scripts/eval_real_holdout.py [--model detect/models/roadsight-starter.onnx]

The held-out split is the one `scripts/train_starter.py` keeps aside (the same
seeded permutation of `../shared/data/road-damage-real`, its last 20 %): these
photos were never trained on. Prints mAP50 (all scores) and precision, recall
and F1 at the pipeline's default confidence 0.25, per class and overall.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))


def _train_starter() -> object:
    spec = importlib.util.spec_from_file_location("train_starter", REPO / "scripts" / "train_starter.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--model", type=Path, default=REPO / "detect" / "models" / "roadsight-starter.onnx")
    parser.add_argument("--seed", type=int, default=1000, help="the seed train_starter.py split with")
    parser.add_argument("--imgsz", type=int, default=None, help="input size (default: the model's)")
    args = parser.parse_args()

    from detect import OnnxDetector, evaluate_map50

    ts = _train_starter()
    if not (ts.SHARED_REAL / "images").is_dir():  # type: ignore[attr-defined]
        print(f"no real photos at {ts.SHARED_REAL}", file=sys.stderr)  # type: ignore[attr-defined]
        return 2
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        # Label files in the real set's own class order: its four names are taxonomy keys.
        names = list(ts.REAL_NAMES)  # type: ignore[attr-defined]
        _, val_images = ts.add_real_photos(work, names, args.seed)  # type: ignore[attr-defined]
        labels = work / "labels" / "val"
        split = (val_images, labels)
        every = OnnxDetector(args.model, conf=0.001, iou=0.7, imgsz=args.imgsz)
        default = OnnxDetector(args.model, conf=0.25, imgsz=args.imgsz)
        all_scores = evaluate_map50(every, *split, class_names=names)
        at_conf = evaluate_map50(default, *split, class_names=names)
    report = {
        "model": str(args.model),
        "imgsz": args.imgsz,
        "images": all_scores.images,
        "labels": all_scores.labels,
        "map50": round(all_scores.map50, 3),
        "per_class_ap50": {k: round(v, 3) for k, v in all_scores.per_class_ap50.items()},
        "precision@0.25": round(at_conf.precision, 3),
        "recall@0.25": round(at_conf.recall, 3),
        "f1@0.25": round(at_conf.f1, 3),
    }
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
