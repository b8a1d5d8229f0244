"""Put 15 small realistic bugs into a copy of the repository, one at a time, and say which the
tests catch (issue 7). Run by hand, not by the test suite; it takes a few minutes:

    .venv/bin/python -m bench.mutations            # all of them
    .venv/bin/python -m bench.mutations 3 7        # only mutations 3 and 7

The working tree is never modified: each mutation is applied to a fresh copy of the files git
knows (tracked, plus new files not ignored) in a temporary folder, and the tests that guard
that code run there. "caught" means pytest reported failing tests (listed, so that the reason
can be checked); a patch whose target text is no longer in the file is reported as "patch does
not apply", never as caught. The unmutated copy runs first and must pass.
"""
from __future__ import annotations

import argparse
import dataclasses
import glob
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

METRICS_TESTS = ["tests/unit/test_bootstrap_ci.py", "tests/unit/test_metrics_vs_sklearn.py",
                 "tests/unit/test_classification_metrics.py"]
SPLIT_TESTS = ["tests/unit/test_split.py"]
SYNTHETIC_TESTS = ["tests/unit/test_synthetic_determinism.py", "tests/unit/test_synthetic.py"]
FOLDER_TESTS = ["tests/unit/test_*folder*.py", "tests/stages/test_*folder*.py", "tests/stages/test_download.py"]
IO_TESTS = ["tests/unit/test_io.py", "tests/unit/test_io_swap.py"]


@dataclasses.dataclass(frozen=True)
class Mutation:
    where: str
    bug: str
    path: str
    edits: tuple[tuple[str, str], ...]  # (text that must occur exactly once, replacement)
    tests: tuple[str, ...]


MUTATIONS = [
    Mutation("classification.py bootstrap_ci", "quantiles [alpha, 1 - alpha]: a 90% interval labelled 95%",
             "skinlab/evaluation/classification.py",
             (("np.quantile(values, [alpha / 2, 1 - alpha / 2])", "np.quantile(values, [alpha, 1 - alpha])"),),
             tuple(METRICS_TESTS)),
    Mutation("classification.py bootstrap_ci", "off by one: the last lesion is never redrawn",
             "skinlab/evaluation/classification.py",
             (("rng.integers(0, len(members), size=len(members))", "rng.integers(0, len(members) - 1, size=len(members))"),),
             tuple(METRICS_TESTS)),
    Mutation("classification.py _malignant_auc", "max instead of sum of the malignant probabilities",
             "skinlab/evaluation/classification.py",
             (("proba[:, columns].sum(axis=1)", "proba[:, columns].max(axis=1)"),), tuple(METRICS_TESTS)),
    Mutation("split.py lesion_table", "a lesion's class is its first image's dx, not the majority",
             "skinlab/data/split.py",
             (("grouped.agg(lambda s: s.value_counts().index[0])", "grouped.agg(lambda s: s.iloc[0])"),),
             tuple(SPLIT_TESTS)),
    Mutation("split.py assign_lesions", "balance lesion counts instead of image counts", "skinlab/data/split.py",
             (('total = group["n_images"].sum()', "total = len(group)"),
              ("filled[chosen] += n_images", "filled[chosen] += 1")), tuple(SPLIT_TESTS)),
    Mutation("synthetic.py class_sequence", "iterate set(CLASSES): images depend on PYTHONHASHSEED",
             "skinlab/data/synthetic.py",
             (("block = [dx for dx in CLASSES for _ in range(floor)]", "block = [dx for dx in set(CLASSES) for _ in range(floor)]"),),
             tuple(SYNTHETIC_TESTS)),
    Mutation("synthetic.py generate", "per-image random stream ignores cfg.seed", "skinlab/data/synthetic.py",
             (("rng = _rng(cfg.seed, _STREAM_IMAGE, plan.index, k)", "rng = _rng(0, _STREAM_IMAGE, plan.index, k)"),),
             tuple(SYNTHETIC_TESTS)),
    Mutation("folder.py _row_problem", "fitzpatrick accepts 0, 7, 99", "skinlab/data/folder.py",
             (("fitzpatrick not in {str(t) for t in FITZPATRICK_TYPES}",
               'fitzpatrick not in {str(t) for t in FITZPATRICK_TYPES} | {"0", "7", "99"}'),), tuple(FOLDER_TESTS)),
    Mutation("folder.py _row_problem", 'split accepts "training" / "validation"', "skinlab/data/folder.py",
             (("if split and split not in SPLITS:", 'if split and split not in SPLITS + ("training", "validation"):'),),
             tuple(FOLDER_TESTS)),
    Mutation("io.py swap_dir", "leaves <out>.old/ behind", "skinlab/io.py",
             (("    os.replace(tmp, path)\n    if old.exists():\n        shutil.rmtree(old)\n", "    os.replace(tmp, path)\n"),),
             tuple(IO_TESTS)),
    Mutation("split.py make_split", "no lesion grouping", "skinlab/data/split.py",
             (("lesions = lesion_table(frame[pool])", 'lesions = lesion_table(frame[pool].assign(lesion_id=frame.loc[pool, "image_id"]))'),
              ('split[pool] = frame.loc[pool, "lesion_id"].map(assignment)', 'split[pool] = frame.loc[pool, "image_id"].map(assignment)')),
             tuple(SPLIT_TESTS)),
    Mutation("classification.py balanced_accuracy", "precision instead of recall", "skinlab/evaluation/classification.py",
             (("recalls = [np.mean(y_pred[y_true == c] == c) for c in np.unique(y_true)]",
               "recalls = [np.mean(y_true[y_pred == c] == c) for c in np.unique(y_pred)]"),), tuple(METRICS_TESTS)),
    Mutation("folder.py", "duplicate-id check off by one", "skinlab/data/folder.py",
             (("if seen[row.image_id]:", "if seen[row.image_id] > 1:"),), tuple(FOLDER_TESTS)),
    Mutation("io.py atomic_dir", "swap in finally", "skinlab/io.py",
             (("        yield tmp\n    except BaseException:\n        shutil.rmtree(tmp, ignore_errors=True)\n        raise\n    swap_dir(tmp, path)\n",
               "        yield tmp\n    finally:\n        swap_dir(tmp, path)\n"),), tuple(IO_TESTS)),
    Mutation("synthetic.py _rng", "unseeded generator", "skinlab/data/synthetic.py",
             (("return np.random.default_rng([seed, purpose, a, b])", "return np.random.default_rng()"),),
             tuple(SYNTHETIC_TESTS)),
]


def copy_repository(target: Path) -> None:
    """Files git knows (tracked, and new ones not ignored), copied as they are in the working tree."""
    listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO,
                            check=True, capture_output=True).stdout.decode().split("\0")
    for name in filter(None, listed):
        source = REPO / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)


def apply(mutation: Mutation, root: Path) -> str | None:
    """Edit the copy; return why the patch does not apply, or None."""
    path = root / mutation.path
    if not path.is_file():
        return f"{mutation.path} is missing"
    text = path.read_text()
    for old, new in mutation.edits:
        found = text.count(old)
        if found != 1:
            return f"{mutation.path}: target text found {found} times: {old.strip().splitlines()[0]!r}"
        text = text.replace(old, new)
    path.write_text(text)
    return None


def test_files(patterns, root: Path) -> list[str]:
    files = []
    for pattern in patterns:
        for match in sorted(glob.glob(pattern, root_dir=root)):
            if match not in files:
                files.append(match)
    return files


def run_tests(files: list[str], root: Path) -> tuple[int, list[str], str]:
    """pytest's exit code, the failing test ids, and the end of its output."""
    command = [sys.executable, "-m", "pytest", "-q", "--maxfail=3", "-rfE", "-p", "no:cacheprovider", *files]
    result = subprocess.run(command, cwd=root, capture_output=True, text=True, timeout=1800)
    output = result.stdout + result.stderr
    failed = re.findall(r"^(?:FAILED|ERROR) (\S+)", output, flags=re.M)
    return result.returncode, failed, output[-3000:]


def verdict(mutation: Mutation) -> tuple[str, str]:
    with tempfile.TemporaryDirectory(prefix="skinlab-mutation-") as tmp:
        root = Path(tmp) / "repo"
        copy_repository(root)
        problem = apply(mutation, root)
        if problem:
            return "patch does not apply", problem
        code, failed, tail = run_tests(test_files(mutation.tests, root), root)
    if code == 1 and failed:
        return "caught", ", ".join(failed)
    if code == 0:
        return "NOT caught", "every selected test passed"
    return f"pytest exit code {code}", tail.strip().splitlines()[-1] if tail.strip() else ""


def baseline(selected: list[Mutation]) -> None:
    patterns = [pattern for mutation in selected for pattern in mutation.tests]
    with tempfile.TemporaryDirectory(prefix="skinlab-mutation-") as tmp:
        root = Path(tmp) / "repo"
        copy_repository(root)
        code, failed, tail = run_tests(test_files(patterns, root), root)
    if code != 0:
        sys.exit(f"the unmutated copy fails its tests ({', '.join(failed) or code}); fix that first:\n{tail}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("numbers", nargs="*", type=int, help=f"mutations to run (1-{len(MUTATIONS)}; default all)")
    args = parser.parse_args(argv)
    numbers = args.numbers or list(range(1, len(MUTATIONS) + 1))
    selected = [MUTATIONS[n - 1] for n in numbers]
    baseline(selected)
    print("| # | where | bug put in | result | failing tests / why |")
    print("|---|---|---|---|---|")
    results = []
    for number, mutation in zip(numbers, selected):
        result, detail = verdict(mutation)
        results.append(result)
        print(f"| {number} | {mutation.where} | {mutation.bug} | {result} | {detail} |", flush=True)
    caught = results.count("caught")
    print(f"\n{caught} of {len(results)} caught; {results.count('patch does not apply')} patches do not apply")
    return 0 if caught == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
