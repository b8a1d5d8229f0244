"""Committed results: snapshots of experiments, and the README's figures checked against them.

python -m skinlab.results save dermamnist-28    # params.yaml + metrics/ of the workspace -> results/dermamnist-28/
python -m skinlab.results check README.md       # every marked block equals what skinlab.report prints
python -m skinlab.results update README.md      # rewrite the marked blocks from the metrics

A README block is marked by `<!-- results: KIND RUN -->` on the line above it: KIND is one of
skinlab.report.KINDS (baselines table, data / best / leaders sentences), RUN is `.` for the
default pipeline's committed metrics/ or `results/<name>` for a snapshot. The block runs to the
next blank line. Every table in the README's Results section must be marked.
"""
from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from skinlab import report
from skinlab.gate import declared_metrics

MARKER = re.compile(r"^<!-- results: (\S+) (\S+) -->\s*$")
RESULTS_HEADING = "## Results"


class ResultsError(ValueError):
    """A snapshot or README problem; the message names the file, table and cell."""


# ---- snapshots -----------------------------------------------------------------------------------

def _dvc_status(root: Path) -> str:
    dvc = Path(sys.executable).parent / "dvc"
    done = subprocess.run([str(dvc) if dvc.exists() else "dvc", "status", "--quiet"], cwd=root, capture_output=True, text=True)
    return "" if done.returncode == 0 else (done.stdout + done.stderr).strip() or "dvc status: changes"


def save(name: str, root: Path = Path("."), check_status: bool = True) -> Path:
    """Copy params.yaml and every metrics file dvc.yaml declares into results/<name>/."""
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", name):
        raise ResultsError(f"snapshot name {name!r}: use letters, digits, '.', '_' and '-'")
    if check_status:
        changes = _dvc_status(root)
        if changes:
            raise ResultsError(f"the workspace's metrics do not come from its params and code (dvc status):\n{changes}\n"
                               "run `dvc exp run` (or `dvc exp apply <exp>`) first")
    files = ["params.yaml", *declared_metrics(root / "dvc.yaml")]
    missing = [f for f in files if not (root / f).is_file()]
    if missing:
        raise ResultsError(f"cannot snapshot {name}: missing {', '.join(missing)}")
    out = root / "results" / name
    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    for file in files:
        (tmp / file).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(root / file, tmp / file)
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    return out


# ---- README blocks -------------------------------------------------------------------------------

@dataclass
class Block:
    kind: str
    run: str
    start: int          # index of the first line of the block (after the marker)
    end: int            # index one past its last line

    @property
    def label(self) -> str:
        return f"{self.kind} {self.run}"


def find_blocks(lines: list[str]) -> list[Block]:
    blocks = []
    for index, line in enumerate(lines):
        match = MARKER.match(line)
        if match:
            end = index + 1
            while end < len(lines) and lines[end].strip():
                end += 1
            blocks.append(Block(match[1], match[2], index + 1, end))
    return blocks


def unmarked_tables(lines: list[str], blocks: list[Block]) -> list[int]:
    """Line numbers (1-based) of tables in the Results section that no marker covers."""
    covered = {i for block in blocks for i in range(block.start, block.end)}
    in_results, found = False, []
    for index, line in enumerate(lines):
        if line.startswith("## "):
            in_results = line.strip() == RESULTS_HEADING
        starts_table = line.startswith("|") and (index == 0 or not lines[index - 1].startswith("|"))
        if in_results and starts_table and index not in covered:
            found.append(index + 1)
    return found


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def _table_problem(label: str, have: list[str], want: list[str]) -> str | None:
    header = _cells(want[0])
    for number, (a, b) in enumerate(zip(have, want)):
        if a == b:
            continue
        row = " ".join(c.strip("*") for c in _cells(b)[:2])
        for column, (x, y) in enumerate(zip(_cells(a), _cells(b))):
            if x != y:
                return (f"table '{label}', row {number + 1} ({row}), column '{header[column]}': "
                        f"README has {x!r}, the metrics give {y!r}")
        return f"table '{label}', row {number + 1} ({row}): README has {a!r}, the metrics give {b!r}"
    if len(have) != len(want):
        return f"table '{label}': README has {len(have) - 2} rows, the metrics give {len(want) - 2}"
    return None


def _text_problem(label: str, have: list[str], want: list[str]) -> str | None:
    a, b = " ".join(have).split(), " ".join(want).split()
    for index, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return f"text '{label}', word {index + 1}: README has {x!r}, the metrics give {y!r} (expected: {' '.join(b)})"
    if len(a) != len(b):
        return f"text '{label}': README has {' '.join(a)!r}, the metrics give {' '.join(b)!r}"
    return None


def check(readme: Path, root: Path | None = None) -> list[str]:
    """Every disagreement between the README and the metrics, each naming the table and cell."""
    root = root or readme.parent
    lines = readme.read_text().splitlines()
    blocks = find_blocks(lines)
    problems = [f"{readme}: table at line {n} in '{RESULTS_HEADING}' has no `<!-- results: KIND RUN -->` marker"
                for n in unmarked_tables(lines, blocks)]
    for block in blocks:
        have = lines[block.start:block.end]
        try:
            want = report.render(block.kind, root / block.run).splitlines()
        except (ValueError, OSError, KeyError) as error:
            problems.append(f"{readme}: marker '{block.label}' cannot be rendered: {error}")
            continue
        compare = _table_problem if want and want[0].startswith("|") else _text_problem
        problem = compare(block.label, have, want) if have else f"'{block.label}': no text under the marker"
        if problem:
            problems.append(f"{readme}: {problem}")
    return problems


def update(readme: Path, root: Path | None = None) -> int:
    """Rewrite every marked block from the metrics; return how many changed."""
    root = root or readme.parent
    lines = readme.read_text().splitlines()
    changed = 0
    for block in reversed(find_blocks(lines)):
        want = report.render(block.kind, root / block.run).splitlines()
        if lines[block.start:block.end] != want:
            lines[block.start:block.end] = want
            changed += 1
    readme.write_text("\n".join(lines) + "\n")
    return changed


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    snap = commands.add_parser("save", help="snapshot the workspace's params.yaml and metrics/ into results/NAME/")
    snap.add_argument("name")
    for name in ("check", "update"):
        commands.add_parser(name, help=f"{name} the README's marked blocks").add_argument("readme", type=Path, nargs="?", default=Path("README.md"))
    args = parser.parse_args(argv)
    try:
        if args.command == "save":
            print(f"wrote {save(args.name)}")
        elif args.command == "update":
            print(f"{args.readme}: {update(args.readme)} block(s) rewritten")
        else:
            problems = check(args.readme)
            print("\n".join(problems) or f"{args.readme}: every marked block agrees with its metrics")
            return 1 if problems else 0
    except ResultsError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
