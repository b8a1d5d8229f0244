"""A lesion-cropped copy of a folder data set: each image cut to a square around its lesion.

    python -m skinlab.data.lesion_crop SOURCE OUT [--margin 0.1] [--min-side 0.4] [--work-size 0]

SOURCE is in the folder-import layout (shared/data/README.md: metadata.csv, images/, optional
masks/); OUT gets the same layout, so `download.source: folder` imports it unchanged. Each
image's lesion is found by the classical Otsu segmenter (skinlab.segmentation.otsu, defaults:
blue channel, hairs removed, vignette left out, central component). The crop is the square
around the lesion's bounding box, widened by `margin` of its side on each edge, never smaller
than `min_side` of the image's shorter side, shifted to stay inside the image; where no lesion
is found the whole centre square is kept. Crops are not resized (the CNN resizes to its own
input), masks are cut with their images, boxes.csv records every box and lesion_crop.json the
settings and a summary.

Why: in HAM10000 a small lesion fills a small part of the frame, so at the CNN's 64 px it is a
few dozen pixels across; cropping gives it the input's pixels. Measured on ham10000-224 (README,
`ham224-crop30`), it does not pay for the CNN there.
"""
from __future__ import annotations

import argparse
import logging
import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd

from skinlab import io, segmentation
from skinlab.data import folder, images
from skinlab.data.raw import InputError

log = logging.getLogger(__name__)
BOX_COLUMNS = ["image_id", "height", "width", "top", "left", "bottom", "right", "lesion_fraction"]


def check_settings(margin: float, min_side: float) -> None:
    if not 0 <= margin <= 1:
        raise ValueError(f"margin must be in 0..1 (got {margin})")
    if not 0 < min_side <= 1:
        raise ValueError(f"min_side must be in (0, 1] (got {min_side})")


def square_box(mask: np.ndarray, margin: float = 0.1, min_side: float = 0.4) -> tuple[int, int, int, int]:
    """(top, left, bottom, right) of the square crop around the mask's lesion (see module doc)."""
    check_settings(margin, min_side)
    height, width = mask.shape[:2]
    shorter = min(height, width)
    ys, xs = np.nonzero(mask)
    if len(ys) == 0:
        top, left = (height - shorter) // 2, (width - shorter) // 2
        return top, left, top + shorter, left + shorter
    centre_y, centre_x = (ys.min() + ys.max()) / 2, (xs.min() + xs.max()) / 2
    side = max(ys.max() - ys.min() + 1, xs.max() - xs.min() + 1) * (1 + 2 * margin)
    side = int(round(min(max(side, min_side * shorter), shorter)))
    top = int(round(min(max(centre_y - side / 2, 0), height - side)))
    left = int(round(min(max(centre_x - side / 2, 0), width - side)))
    return top, left, top + side, left + side


def crop_folder(source: Path, out: Path, margin: float = 0.1, min_side: float = 0.4, work_size: int = 0,
                quality: int = 95) -> pd.DataFrame:
    """Write the cropped copy of `source` to `out` (built aside, swapped in when complete); the boxes."""
    source, out = Path(source), Path(out)
    check_settings(margin, min_side)  # before any work
    inside, outside = source.resolve(), out.resolve()
    if inside == outside or inside in outside.parents or outside in inside.parents:
        raise InputError(f"{out}: the output folder must be neither the source {source}, nor inside it, nor above it")
    if out.exists() and any(out.iterdir()) and not (out / "lesion_crop.json").exists():
        raise InputError(f"{out}: exists and is not an earlier lesion_crop output (no lesion_crop.json); "
                         "choose an empty or new folder")
    metadata = folder.find_metadata(source)
    frame = folder.read_table(metadata)
    if frame.empty:
        raise InputError(f"{metadata}: no rows")
    index = folder.index_files(source)
    rows = []
    with io.atomic_dir(out) as tmp:
        (tmp / "images").mkdir()
        shutil.copyfile(metadata, tmp / metadata.name)
        for n, image_id in enumerate(dict.fromkeys(frame["image_id"].astype(str))):
            paths, masks = index.images.get(image_id), index.masks.get(image_id, [])
            if not paths:
                raise InputError(f"{metadata}: image_id {image_id!r} has no image file under {source}")
            for found in (paths, masks):
                if len(found) > 1:
                    raise InputError(f"image_id {image_id!r} has {len(found)} files: {', '.join(map(str, found))}")
            rgb = read(paths[0])  # as the folder import reads it: EXIF orientation applied, size limits
            mask = segmentation.otsu(rgb, work_size=work_size)
            top, left, bottom, right = square_box(mask, margin, min_side)
            name = paths[0].stem + (".jpg" if paths[0].suffix.lower() in (".jpg", ".jpeg") else ".png")
            io.write_image(tmp / "images" / name, rgb[top:bottom, left:right], quality)
            if masks:
                (tmp / "masks").mkdir(exist_ok=True)
                truth = io.read_mask(masks[0])
                io.check_mask_size(truth, rgb.shape, masks[0], paths[0])
                io.write_image(tmp / "masks" / f"{image_id}{folder.MASK_SUFFIX}.png", truth[top:bottom, left:right])
            rows.append((image_id, *rgb.shape[:2], top, left, bottom, right, float(mask.mean())))
            if (n + 1) % 1000 == 0:
                log.info("lesion_crop: %d images", n + 1)
        boxes = pd.DataFrame(rows, columns=BOX_COLUMNS)
        io.write_csv(tmp / "boxes.csv", boxes)
        settings = {"source": str(source), "margin": margin, "min_side": min_side, "work_size": work_size}
        io.write_json(tmp / "lesion_crop.json", summary(boxes, settings))
    return boxes


def summary(boxes: pd.DataFrame, settings: dict) -> dict:
    """The settings of a crop and what it did: how large the crops are, how many kept the whole centre
    square (a lesion filling the frame, or Otsu finding one region), how many found no lesion."""
    sides = boxes["bottom"] - boxes["top"]
    kept_whole = int((sides == np.minimum(boxes["height"], boxes["width"])).sum())
    return {**settings, "images": len(boxes), "kept_whole": kept_whole,
            "no_lesion_found": int((boxes["lesion_fraction"] == 0).sum()),
            "crop_side_px": {"min": int(sides.min()), "median": float(sides.median()), "max": int(sides.max())}}


def read(path: Path) -> np.ndarray:
    """An image as RGB uint8, decoded as `download`'s folder import decodes it."""
    try:
        data = path.read_bytes()
    except OSError as error:
        raise InputError(f"{path}: cannot read ({error.strerror})") from None
    return io.to_rgb(images.decode(data, str(path), images.Limits()).image, str(path))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("source", type=Path, help="a folder in the folder-import layout")
    parser.add_argument("out", type=Path, help="where the cropped copy goes (replaced when complete)")
    parser.add_argument("--margin", type=float, default=0.1, help="share of the lesion box's side added on each edge")
    parser.add_argument("--min-side", type=float, default=0.4, help="smallest crop, as a share of the shorter side")
    parser.add_argument("--work-size", type=int, default=0, help="longer side Otsu works at (0: the image's own)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        boxes = crop_folder(args.source, args.out, args.margin, args.min_side, args.work_size)
    except (InputError, io.ImageError, io.MaskError, ValueError) as error:
        print(f"lesion_crop: error: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    done = summary(boxes, {})
    print(f"lesion_crop: {done['images']} images to {args.out}; crop side (px) median "
          f"{done['crop_side_px']['median']:.0f}, whole centre square kept for {done['kept_whole']} "
          f"({done['no_lesion_found']} without a lesion found)")


if __name__ == "__main__":
    main()
