"""The download stage's work: any source -> data/raw, with every bad item named or counted."""
from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path
from typing import Iterable, Iterator

import pandas as pd

from skinlab import io
from skinlab.data import folder
from skinlab.data.raw import Problem, RawWriter, raise_problems
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


def folder_items(good: list[dict], problems: list[Problem]) -> Iterator[tuple[dict, bytes, str, str, object]]:
    """Read each image and mask once; an unreadable image becomes a problem, not a crash.

    A bad mask is optional data: it is reported, and the image goes on without it.
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
            problems.append(Problem("corrupt_image", name, str(error).removeprefix(f"{name}: ")))


def acquire(cfg: Download, seed: int, out_dir: Path, downloads_dir: Path) -> dict:
    """Fill out_dir (built atomically) from the configured source; return the stage metrics."""
    problems: list[Problem] = []
    info: dict = {}
    with io.atomic_dir(out_dir) as tmp:
        writer = RawWriter(tmp, cfg.source)
        if cfg.source == "synthetic":
            items = synthetic_items(cfg, seed)
            where = "the synthetic generator"
        else:
            root = Path(cfg.folder.path) if cfg.source == "folder" else fetch_ham10000(cfg, downloads_dir)
            good, problems, info = folder.records(root)
            if cfg.source == "ham10000":
                info["listed_without_image"] = listed_without_image(root)
            items = folder_items(good, problems)
            where = str(root)
        write_items(items, writer, problems)
        if cfg.on_bad_image == "error":
            raise_problems(problems, where)
        frame = writer.finish()
        if frame.empty:
            raise_problems([Problem("empty", where, "no usable image")], where)
    for problem in problems:
        log.warning("skipped %s", problem)
    return summarize(frame, cfg.source, problems, info)


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
