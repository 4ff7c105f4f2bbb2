#!/usr/bin/env python3
"""Train the bundled starter model, end to end, reproducibly.

    .venv/bin/python scripts/train_starter.py [--epochs 30] [--train 160] [--val 30] [--vehicle-share 0.4]

1. renders a training set on the test range (`hardware.sim.dataset`, frames of
   960x540 as the pipeline sees 1080p video at `imgsz` 960): a share
   `--vehicle-share` from forward vehicle cameras on the lanes, the rest from
   drones (nadir, some low and oblique), under varied light, shadows, wet
   asphalt, motion blur and noise;
2. slices it into 320 px tiles (`detect.dataset_tiles`) so small defects keep
   their pixel size while training runs at a cheap input size;
3. adds the real road photos of `../shared/data/road-damage-real` when present
   (4 of our classes; 80 % to training, 20 % held out for validation);
4. trains with `detect.train.train` (Ultralytics): by default YOLOv5nu whose
   backbone and neck start from the COCO-pretrained YOLOv5n in
   `../shared/models/yolov5n-coco` (`--init coco`), else YOLO11n from scratch
   (`--init scratch`; on a 2-core CPU it needs far more epochs than we have);
5. exports ONNX (dynamic input size) and copies it with its model card to
   `detect/models/`.

It is a smoke-test model for the demo and CI, not a production detector.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

import numpy as np
import yaml

REPO = Path(__file__).resolve().parent.parent
SHARED_REAL = REPO.parent / "shared" / "data" / "road-damage-real"
# The real set's classes, in its own order, as taxonomy keys.
COCO_YOLOV5N = REPO.parent / "shared" / "models" / "yolov5n-coco" / "yolov5n.pt"
REAL_NAMES = ["alligator_crack", "longitudinal_crack", "transverse_crack", "pothole"]


def add_real_photos(work: Path, names: list[str], seed: int) -> tuple[Path, Path] | None:
    """Link the shared real photos in with labels remapped to our class order."""
    if not (SHARED_REAL / "images").is_dir():
        print(f"no real photos at {SHARED_REAL}; training on the test range alone")
        return None
    remap = np.array([names.index(n) for n in REAL_NAMES])
    images = sorted((SHARED_REAL / "images").glob("*.jpg"))
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(images))
    n_train = round(0.8 * len(images))
    dirs = []
    for split, idx in (("train", order[:n_train]), ("val", order[n_train:])):
        img_dir, lbl_dir = work / "images" / split, work / "labels" / split
        img_dir.mkdir(parents=True, exist_ok=True)
        lbl_dir.mkdir(parents=True, exist_ok=True)
        for i in idx:
            src = images[i]
            dst = img_dir / src.name
            if not dst.exists():
                os.symlink(src, dst)
            lines = []
            label = SHARED_REAL / "labels" / f"{src.stem}.txt"
            if label.exists():
                for line in label.read_text().splitlines():
                    parts = line.split()
                    if len(parts) == 5:
                        lines.append(" ".join([str(remap[int(parts[0])]), *parts[1:]]))
            (lbl_dir / f"{src.stem}.txt").write_text("\n".join(lines) + ("\n" if lines else ""))
        dirs.append(img_dir)
    print(f"real photos: {n_train} train, {len(images) - n_train} val (linked from {SHARED_REAL})")
    return dirs[0], dirs[1]


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--work", type=Path, default=REPO / "data" / "starter")
    parser.add_argument("--train", type=int, default=160, help="rendered training frames")
    parser.add_argument("--val", type=int, default=30, help="rendered validation frames")
    parser.add_argument("--epochs", type=int, default=12)
    parser.add_argument("--tile", type=int, default=320)
    parser.add_argument("--frame-size", type=int, default=960)
    parser.add_argument("--seed", type=int, default=1000)
    parser.add_argument(
        "--vehicle-share", type=float, default=0.4, help="share of rendered frames from a vehicle camera"
    )
    parser.add_argument("--no-real", action="store_true", help="do not add the shared real photos")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--init", choices=["coco", "scratch"], default="coco")
    parser.add_argument(
        "--init-weights",
        type=Path,
        help="fine-tune these Ultralytics .pt weights (e.g. an earlier run's best.pt) instead of --init",
    )
    parser.add_argument(
        "--models-dir",
        type=Path,
        default=REPO / "detect" / "models",
        help="where the ONNX and its model card go (another folder keeps the shipped model until checked)",
    )
    args = parser.parse_args()

    from detect.dataset_tiles import tile_dataset
    from detect.train import train
    from hardware.sim.dataset import generate_dataset

    work: Path = args.work.resolve()  # data.yaml lists absolute folders
    frames = work / "frames"
    if not (frames / "data.yaml").exists():
        generate_dataset(
            frames,
            n_train=args.train,
            n_val=args.val,
            seed=args.seed,
            imgsz=args.frame_size,
            platform_mix=args.vehicle_share,
        )
    tiles_yaml, stats = tile_dataset(frames / "data.yaml", work / "tiles", tile=args.tile, seed=args.seed)
    for split, s in stats.items():
        print(f"tiles {split}: {s.tiles} tiles ({s.empty_tiles} empty), {s.boxes} boxes, {s.images} frames")
    data = yaml.safe_load(tiles_yaml.read_text())
    names = data["names"]
    names_list = [names[k] for k in sorted(names)] if isinstance(names, dict) else list(names)
    if not args.no_real:
        real = add_real_photos(work / "real", names_list, args.seed)
        if real is not None:
            data["train"] = [str(work / "tiles" / "images" / "train"), str(real[0])]
            data["val"] = [str(work / "tiles" / "images" / "val"), str(real[1])]
            data.pop("path", None)
    data_yaml = work / "data.yaml"
    data_yaml.write_text(yaml.safe_dump(data, sort_keys=False))

    model = "yolo11n.yaml"
    if args.init_weights is not None:
        if not args.init_weights.is_file():
            parser.error(f"--init-weights {args.init_weights}: file not found")
        model = str(args.init_weights.resolve())
    elif args.init == "coco":
        from detect.pretrained import save_yolov5nu_init

        model = str(
            save_yolov5nu_init(COCO_YOLOV5N, work / "yolov5nu-coco-init.pt", len(names_list), names_list)
        )
    command = "python scripts/train_starter.py " + " ".join(sys.argv[1:])
    result = train(
        data_yaml,
        model=model,
        epochs=args.epochs,
        imgsz=args.tile,
        batch=32,
        out=work / "runs",
        name="starter",
        device=args.device,
        seed=0,
        export_imgsz=args.frame_size,
        close_mosaic=max(1, args.epochs // 4),
        command=command.strip(),
    )
    models: Path = args.models_dir
    models.mkdir(parents=True, exist_ok=True)
    assert result.onnx is not None
    shutil.copy(result.onnx, models / "roadsight-starter.onnx")
    card = result.model_card.read_text()
    card = card.replace(
        "# Model card",
        "# Model card: roadsight starter (smoke-test model)\n\n"
        f"Trained on {args.tile} px tiles of {args.frame_size}x{args.frame_size * 9 // 16} test-range frames "
        f"({args.vehicle_share:.0%} from forward vehicle cameras, the rest from drones) "
        f"plus real photos where available; run it at imgsz {args.frame_size} on 16:9 video. "
        "A smoke-test model for the demo and CI, not a production detector.",
        1,
    )
    (models / "MODEL_CARD.md").write_text(card)
    print(f"starter model: {models / 'roadsight-starter.onnx'}\nmodel card: {models / 'MODEL_CARD.md'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
