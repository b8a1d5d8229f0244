"""The download stage's work: any source -> data/raw, with every bad item named or counted."""
from __future__ import annotations

import logging
import os
from collections import Counter
from pathlib import Path
from typing import Iterable, Iterator

import pandas as pd

from skinlab import io
from skinlab.data import folder, images
from skinlab.data.raw import InputError, Problem, RawWriter, no_usable_image, raise_problems
from skinlab.data.schema import CLASSES
from skinlab.params import Download

log = logging.getLogger(__name__)


def synthetic_items(cfg: Download, seed: int) -> Iterator[tuple[dict, bytes, str, str, object]]:
    from skinlab.data import synthetic

    syn = cfg.synthetic
    config = synthetic.SyntheticConfig(**syn.model_dump(), seed=seed)
    for sample in synthetic.generate(config):
        record = dict(sample.record, split="")
        yield record, sample.jpeg, ".jpg", sample.image_id, sample.mask


def folder_items(good: list[dict], problems: list[Problem], limits: images.Limits) -> Iterator[tuple[dict, bytes, str, str, object]]:
    """Read each image and mask once; an unreadable image becomes a problem, not a crash.

    A bad mask (or one over the pixel limit) is optional data: it is reported, and the image
    goes on without it.
    """
    for record in good:
        path, mask_path = record["_image_path"], record["_mask_path"]
        clean = {key: value for key, value in record.items() if not key.startswith("_")}
        try:
            data = path.read_bytes()
        except OSError as error:
            problems.append(Problem("corrupt_image", str(path), f"cannot read: {error}"))
            continue
        mask = None
        if mask_path is not None:
            try:
                images.check_mask_size(mask_path, limits)
                mask = io.read_mask(mask_path)
            except io.MaskError as error:
                problems.append(Problem("bad_mask", str(mask_path), str(error).removeprefix(f"{mask_path}: ")))
        yield clean, data, path.suffix, str(path), mask


def write_items(items: Iterable, writer: RawWriter, problems: list[Problem]) -> None:
    for record, data, ext, name, mask in items:
        try:
            writer.add(record, data, ext, name, mask)
        except io.MaskError as error:
            problems.append(Problem("bad_mask", name, str(error).removeprefix(f"{name}: ")))
            write_items([(record, data, ext, name, None)], writer, problems)
        except io.ImageError as error:
            kind = getattr(error, "kind", "corrupt_image")
            problems.append(Problem(kind, name, str(error).removeprefix(f"{name}: ")))


def image_limits(cfg: Download) -> images.Limits:
    return images.Limits(max_pixels=cfg.max_image_pixels, min_side=cfg.min_image_side)


def checked_decoder(cfg: Download, repairs: dict[tuple[str, str], Problem]):
    """A RawWriter decoder for images from outside: header limits, EXIF orientation, 16-bit scaling.

    What it changes is recorded in `repairs` by (kind, file), once even when an image is
    decoded again (after its mask was refused), so the log and the metrics say so.
    """
    limits = image_limits(cfg)

    def decode(data: bytes, name: str):
        decoded = images.decode(data, name, limits)
        if decoded.orientation != 1:
            repairs[("exif_orientation", name)] = Problem("exif_orientation", name, f"EXIF orientation {decoded.orientation} applied")
        if decoded.rescaled_bits:
            repairs[("rescaled_16bit", name)] = Problem(
                "rescaled_16bit", name, f"16-bit image using {decoded.rescaled_bits} bits scaled to 8 bits")
        return decoded.image, decoded.changed

    return decode


def acquire(cfg: Download, seed: int, out_dir: Path, downloads_dir: Path) -> dict:
    """Fill out_dir (built atomically) from the configured source; return the stage metrics."""
    problems: list[Problem] = []
    repairs: list[Problem] = []
    image_repairs: dict[tuple[str, str], Problem] = {}
    info: dict = {}
    with io.atomic_dir(out_dir) as tmp:
        if cfg.source == "synthetic":
            writer = RawWriter(tmp, cfg.source)
            items = synthetic_items(cfg, seed)
            where = "the synthetic generator"
        elif cfg.source == "dermamnist":
            writer = RawWriter(tmp, cfg.source)
            npz, items, info = dermamnist_items(cfg, downloads_dir)
            where = str(npz)
        else:
            writer = RawWriter(tmp, cfg.source, decode=checked_decoder(cfg, image_repairs))
            root = Path(cfg.folder.path) if cfg.source == "folder" else fetch_ham10000(cfg, downloads_dir)
            good, problems, row_repairs, info = folder.records(root, skip=cfg.on_bad_image == "skip")
            repairs.extend(row_repairs)
            if cfg.source == "ham10000":
                info["listed_without_image"] = listed_without_image(root)
            items = folder_items(good, problems, image_limits(cfg))
            where = str(root)
        write_items(items, writer, problems)
        if cfg.on_bad_image == "error":
            raise_problems(problems, where)
        frame = writer.finish()
        if frame.empty:
            raise no_usable_image(where, problems, cfg.on_bad_image, Path(info.get("metadata", "")).name)
    for problem in problems:
        log.warning("skipped %s", problem)
    repairs += image_repairs.values()
    for repair in repairs:
        log.warning("repaired %s", repair)
    metrics = summarize(frame, cfg.source, problems, info)
    if "dermamnist" in info:
        metrics["dermamnist"] = info["dermamnist"]
    if cfg.source != "synthetic":
        kinds = Counter(repair.kind for repair in repairs)
        metrics["repaired"] = {"total": len(repairs), **dict(sorted(kinds.items()))}
    return metrics


def check_inputs(cfg: Download) -> str:
    """What DVC needs before the stage can run, checked with messages that name the param.

    DVC hashes `download.folder.path` (whatever the source) before running the stage, and a
    missing folder or a dangling link inside it stops it with a bare `[Errno 2]`.
    """
    root = Path(cfg.folder.path)
    if cfg.source == "folder":
        table = folder.find_metadata(root)
    elif not root.is_dir():
        raise InputError(f"{root}: folder not found (download.folder.path in params.yaml; DVC tracks it "
                         "whatever the source; the default is data/folder)")
    dangling = folder.dangling_links(root)
    if dangling:
        names = ", ".join(f"{path} -> {os.readlink(path)}" for path in dangling[: folder.EXAMPLES])
        raise InputError(f"{root}: {len(dangling)} dangling symbolic link(s), which DVC cannot hash (it stops with "
                         f"[Errno 2] No such file or directory): {names}; remove or repair them")
    if cfg.source == "dermamnist" and cfg.dermamnist.path:
        from skinlab.data import dermamnist

        npz = dermamnist.locate(cfg.dermamnist, Path())
        counts = {split: len(labels) for split, labels in dermamnist.check(npz, cfg.dermamnist.size).items()}
        return f"ok: {npz}: DermaMNIST at {cfg.dermamnist.size} px, {counts}"
    if cfg.source != "folder":
        return f"ok: source {cfg.source}"
    good, problems, _, info = folder.records(root, skip=cfg.on_bad_image == "skip")
    return (f"ok: {table}: {len(good)} image(s) found, {len(problems)} problem(s) before decoding (the stage "
            f"names them), {info['unmatched_image_files']} image file(s) without a row")


def fetch_ham10000(cfg: Download, downloads_dir: Path) -> Path:
    from skinlab.data import ham10000

    ham = cfg.ham10000
    return ham10000.fetch_ham10000(
        downloads_dir,
        downloads_dir / "ham10000",
        base_url=ham.base_url,
        include_test=ham.include_test,
        retries=ham.retries,
        timeout=ham.timeout,
    )


def dermamnist_items(cfg: Download, downloads_dir: Path):
    """The npz (given or fetched into the cache), its images as RawWriter items, and what it is."""
    from skinlab.data import dermamnist

    npz = dermamnist.locate(cfg.dermamnist, downloads_dir)
    return npz, dermamnist.items(npz, cfg.dermamnist.size), {"dermamnist": dermamnist.release_info(npz, cfg.dermamnist.size)}


def listed_without_image(root: Path) -> int:
    """How many images the release's tables list but its archives lack (each named by the fetch)."""
    from skinlab.data import ham10000

    return sum(len(ids) for ids in ham10000.listed_without_image(root).values())


def summarize(frame: pd.DataFrame, source: str, problems: list[Problem], info: dict) -> dict:
    per_class = {name: int((frame["dx"] == name).sum()) for name in CLASSES}
    skipped = Counter(problem.kind for problem in problems)
    metrics = {
        "source": source,
        "n_images": int(len(frame)),
        "n_lesions": int(frame["lesion_id"].nunique()),
        "n_with_mask": int((frame["mask"] != "").sum()),
        "n_with_skin_tone": int((frame["fitzpatrick"].astype(str) != "").sum()),
        "per_class": per_class,
        "skipped": {"total": len(problems), **dict(sorted(skipped.items()))},
    }
    given = frame["split"].astype(str)
    if (given != "").any():
        metrics["given_split"] = {name: int((given == name).sum()) for name in ("train", "val", "test", "")}
        metrics["given_split"]["none"] = metrics["given_split"].pop("")
    metrics.update({key: value for key, value in info.items()
                    if key.endswith("_files") or key == "listed_without_image"})
    return metrics
