"""The metric gate: metrics produced now against those committed on a git rev, per metrics_thresholds.yaml.

python -m skinlab.gate                          # workspace vs HEAD~1: does any gated metric regress?
python -m skinlab.gate --rev main               # ... vs another rev
python -m skinlab.gate --reproduce --rev HEAD   # every numeric metric vs HEAD, within the reproduce tolerance
python -m skinlab.gate --record-cpu-kind        # after dvc repro: metrics/made_on.json names this CPU kind

Bit-for-bit reproduction holds on the CPU kind that made the committed metrics (skinlab.cpu_kind,
metrics/made_on.json). On another kind only the files listed under `reproduce: across_cpu_kinds`
must reproduce; the other metrics' differences are listed as `other CPU` (a regression-gated one
may move at most `across_cpu_kinds_max_change`), and when the rev's metrics were made on HEAD's
kind but not this machine's, the regression check compares HEAD's committed metrics with them.

Generic over the pipeline: the metrics files are the ones dvc.yaml declares, the metrics and their
directions are in the thresholds file, so a new stage is gated by adding its thresholds. A commit
between the rev and HEAD may accept a drop on purpose with a trailer line
`Accept-Metric-Drop: metrics/<stage>.json:<metric>` (the README's "CI gate" section).
Exit status: 0 pass, 1 regression or mismatch, 2 bad input (thresholds file, rev, missing files,
a metrics/made_on.json that is not valid or does not vouch for the committed metrics).
"""
from __future__ import annotations

import argparse
import fnmatch
import json
import math
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import yaml

from skinlab import cpu_kind

THRESHOLDS = "metrics_thresholds.yaml"
ACCEPT_TRAILER = "Accept-Metric-Drop:"
SHOW_AT_MOST = 25   # rows of a long report (a whole metrics file not reproduced); --all shows every one


class GateError(ValueError):
    """Bad input to the gate: the message names the file, key or rev."""


@dataclass(frozen=True)
class Rule:
    pattern: str          # a metric key, `*` matching any part (fnmatch)
    better: str           # "higher" | "lower"
    max_drop: float       # how far it may move the wrong way


@dataclass
class Row:
    path: str
    metric: str
    old: float | None
    new: float | None
    limit: str            # the threshold as printed
    status: str           # ok | new | accepted | other CPU | REGRESSION | MISMATCH | MISSING
    reason: str = ""

    @property
    def failed(self) -> bool:
        return self.status in ("REGRESSION", "MISMATCH", "MISSING")


# ---- what the pipeline declares, and the numbers in a metrics file -----------------------------

def declared_metrics(dvc_yaml: str | Path = "dvc.yaml") -> list[str]:
    """Every metrics file of dvc.yaml (the stages' `metrics:` and a top-level `metrics:` list)."""
    data = yaml.safe_load(Path(dvc_yaml).read_text()) or {}
    entries = list(data.get("metrics") or [])
    for stage in (data.get("stages") or {}).values():
        entries.extend(stage.get("metrics") or [])
    paths = [entry if isinstance(entry, str) else next(iter(entry)) for entry in entries]
    return list(dict.fromkeys(paths))


def leaves(data, prefix: str = "") -> dict[str, float | None]:
    """Numeric leaves as {'best.test.balanced_accuracy': 0.73}, list items by index, as dvc names them.
    None (a metric that was undefined) is kept; strings and booleans are not metrics."""
    out: dict[str, float | None] = {}
    if isinstance(data, dict):
        for key, value in data.items():
            out.update(leaves(value, f"{prefix}{key}."))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            out.update(leaves(value, f"{prefix}{index}."))
    elif data is None or (isinstance(data, (int, float)) and not isinstance(data, bool)):
        out[prefix[:-1]] = data
    return out


def git(repo: Path, *args: str, text: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=text)


def resolve_rev(repo: Path, rev: str) -> str | None:
    """The commit of `rev`; None when the history has no such commit (a first commit's HEAD~1)."""
    done = git(repo, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}")
    if done.returncode == 0:
        return done.stdout.strip()
    if git(repo, "rev-parse", "--is-shallow-repository").stdout.strip() == "true":
        raise GateError(f"git rev {rev!r} is not in this shallow clone: fetch the history (git fetch --unshallow)")
    if rev.startswith("HEAD~") or rev.startswith("HEAD^"):
        return None
    raise GateError(f"unknown git rev {rev!r}")


def bytes_at_rev(repo: Path, commit: str, path: str) -> bytes | None:
    """A file's committed bytes on `commit`; None when that commit has no such file."""
    done = git(repo, "show", f"{commit}:{path}", text=False)
    return done.stdout if done.returncode == 0 else None


def committed_metrics(repo: Path, commit: str, declared: list[str]) -> dict[str, bytes | None]:
    """The committed bytes of each declared metrics file on `commit` (None where it has none)."""
    return {path: bytes_at_rev(repo, commit, path) for path in declared}


def parse_committed(content: bytes | None, commit: str, path: str) -> dict | None:
    if content is None:
        return None
    try:
        return json.loads(content)
    except (json.JSONDecodeError, UnicodeDecodeError) as error:
        raise GateError(f"{path} on {commit[:10]} is not valid JSON: {error}") from None


def metrics_at_rev(repo: Path, commit: str, path: str) -> dict | None:
    """A metrics file as committed on `commit`; None when that commit has no such file (a new stage)."""
    return parse_committed(bytes_at_rev(repo, commit, path), commit, path)


def metrics_in_dir(root: Path, path: str) -> dict | None:
    file = root / path
    if not file.exists():
        return None
    try:
        return json.loads(file.read_text())
    except json.JSONDecodeError as error:
        raise GateError(f"{file} is not valid JSON: {error}") from None


def accepted_drops(repo: Path, commit: str) -> set[str]:
    """`path:metric` named by Accept-Metric-Drop trailers of the commits after `commit` up to HEAD."""
    log = git(repo, "log", "--format=%B", f"{commit}..HEAD").stdout
    return {line[len(ACCEPT_TRAILER):].strip().split()[0] for line in log.splitlines()
            if line.startswith(ACCEPT_TRAILER) and line[len(ACCEPT_TRAILER):].strip()}


# ---- the thresholds file -------------------------------------------------------------------------

@dataclass
class Thresholds:
    regression: dict[str, list[Rule]]       # metrics file -> rules
    reproduce_default: float
    reproduce: dict[str, dict[str, float]]  # metrics file -> pattern -> tolerance
    across_cpu_kinds: tuple[str, ...] = ()  # files that reproduce bit for bit on any CPU kind
    across_cpu_kinds_max_change: float = 0.1  # how far a regression-gated metric may move on another kind


def _number(value, where: str, minimum: float = 0.0) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value < minimum:
        raise GateError(f"{where} must be a number >= {minimum:g} (got {value!r})")
    return float(value)


def load_thresholds(path: str | Path, declared: list[str]) -> Thresholds:
    path = Path(path)
    if not path.exists():
        raise GateError(f"{path}: no thresholds file")
    data = yaml.safe_load(path.read_text()) or {}
    unknown = set(data) - {"regression", "reproduce"}
    if unknown:
        raise GateError(f"{path}: unknown section(s) {sorted(unknown)}; expected regression, reproduce")
    regression: dict[str, list[Rule]] = {}
    for file, rules in (data.get("regression") or {}).items():
        if file not in declared:
            raise GateError(f"{path}: regression.{file} is not a metrics file of dvc.yaml ({', '.join(declared)})")
        regression[file] = []
        for pattern, rule in (rules or {}).items():
            where = f"{path}: regression.{file}.{pattern}"
            if not isinstance(rule, dict) or set(rule) != {"better", "max_drop"}:
                raise GateError(f"{where} must be {{better: higher|lower, max_drop: <number>}} (got {rule!r})")
            if rule["better"] not in ("higher", "lower"):
                raise GateError(f"{where}.better must be higher or lower (got {rule['better']!r})")
            regression[file].append(Rule(str(pattern), rule["better"], _number(rule["max_drop"], f"{where}.max_drop")))
    section = dict(data.get("reproduce") or {})
    default = _number(section.pop("default", 0.0), f"{path}: reproduce.default")
    across = section.pop("across_cpu_kinds", None) or []
    across_change = _number(section.pop("across_cpu_kinds_max_change", 0.1), f"{path}: reproduce.across_cpu_kinds_max_change")
    if not isinstance(across, list):
        raise GateError(f"{path}: reproduce.across_cpu_kinds must be a list of metrics files (got {across!r})")
    for file in across:
        if file not in declared:
            raise GateError(f"{path}: reproduce.across_cpu_kinds names {file!r}, not a metrics file of dvc.yaml ({', '.join(declared)})")
    reproduce: dict[str, dict[str, float]] = {}
    for file, patterns in section.items():
        if file not in declared:
            raise GateError(f"{path}: reproduce.{file} is not a metrics file of dvc.yaml ({', '.join(declared)})")
        if not isinstance(patterns, dict):
            raise GateError(f"{path}: reproduce.{file} must map metric patterns to tolerances (got {patterns!r})")
        reproduce[file] = {str(p): _number(t, f"{path}: reproduce.{file}.{p}") for p, t in patterns.items()}
    return Thresholds(regression, default, reproduce, tuple(across), across_change)


# ---- the two comparisons -------------------------------------------------------------------------

def _is_pattern(text: str) -> bool:
    return any(char in text for char in "*?[")


def regression_rows(path: str, rules: list[Rule], old: dict | None, new: dict | None,
                    accepted: set[str] = frozenset()) -> list[Row]:
    """One row per gated metric of one file: `new` may not move the wrong way by more than max_drop."""
    if new is None:
        return [Row(path, "(file)", None, None, "", "MISSING", f"{path} was not produced, but {THRESHOLDS} gates it")]
    old_values, new_values = leaves(old) if old is not None else {}, leaves(new)
    rows = []
    for rule in rules:
        names = sorted(n for n in set(new_values) | set(old_values) if fnmatch.fnmatchcase(n, rule.pattern))
        if not names and not _is_pattern(rule.pattern):
            names = [rule.pattern]
        limit = f"{rule.better}, max drop {rule.max_drop:g}"
        for name in names:
            rows.append(_regression_row(path, name, rule, old_values, new_values, limit, f"{path}:{name}" in accepted))
    return rows


def _regression_row(path, name, rule, old_values, new_values, limit, accepted) -> Row:
    old, new = old_values.get(name), new_values.get(name)
    if name not in new_values or (new is None and old is not None):
        status = "accepted" if accepted else "MISSING"
        return Row(path, name, old, new, limit, status, f"{path} {name}: no value now ({limit})")
    if name not in old_values or old is None:
        return Row(path, name, old, new, limit, "new")
    if new is None:
        return Row(path, name, old, new, limit, "ok")
    drop = (old - new) if rule.better == "higher" else (new - old)
    if drop > rule.max_drop + 1e-12:
        reason = (f"{path} {name} regressed: {old:.4f} -> {new:.4f} ({rule.better} is better; "
                  f"it may drop at most {rule.max_drop:g}, it dropped {drop:.4f})")
        return Row(path, name, old, new, limit, "accepted" if accepted else "REGRESSION", reason)
    return Row(path, name, old, new, limit, "ok")


def reproduce_rows(path: str, default: float, patterns: dict[str, float], old: dict | None, new: dict | None) -> list[Row]:
    """Every numeric metric of one file: `new` must equal `old` within its tolerance, in either direction."""
    if old is None and new is None:
        return []
    if old is None or new is None:
        which = "committed" if old is None else "produced"
        return [Row(path, "(file)", None, None, "", "MISSING", f"{path} was not {which}")]
    old_values, new_values = leaves(old), leaves(new)
    rows = []
    for name in sorted(set(old_values) | set(new_values)):
        tolerance = next((t for p, t in patterns.items() if fnmatch.fnmatchcase(name, p)), default)
        a, b = old_values.get(name), new_values.get(name)
        if name not in old_values or name not in new_values or (a is None) != (b is None):
            said = ["absent" if name not in values else values[name] for values in (old_values, new_values)]
            rows.append(Row(path, name, a, b, f"±{tolerance:g}", "MISMATCH", f"{path} {name}: {said[0]} committed, {said[1]} produced"))
        elif a is not None and abs(a - b) > tolerance:
            rows.append(Row(path, name, a, b, f"±{tolerance:g}", "MISMATCH",
                            f"{path} {name} not reproduced: {a!r} committed, {b!r} produced (tolerance {tolerance:g})"))
        else:
            rows.append(Row(path, name, a, b, f"±{tolerance:g}", "ok"))
    return rows


# ---- output --------------------------------------------------------------------------------------

def _fmt(value) -> str:
    if value is None:
        return "-"
    return f"{value:.5g}" if isinstance(value, float) else str(value)


def table(rows: list[Row], old_label: str, new_label: str) -> str:
    """Markdown like `dvc metrics diff --md`, with the threshold and a verdict per row."""
    lines = [f"| Path | Metric | {old_label} | {new_label} | Change | Threshold | Status |",
             "|---|---|---:|---:|---:|---|---|"]
    for row in rows:
        change = "-" if row.old is None or row.new is None else f"{row.new - row.old:+.5g}"
        lines.append(f"| {row.path} | {row.metric} | {_fmt(row.old)} | {_fmt(row.new)} | {change} | {row.limit} | {row.status} |")
    return "\n".join(lines)


def run_gate(repo: Path, new_root: Path, rev: str, thresholds_file: Path, reproduce: bool = False,
             show_all: bool = False) -> tuple[int, str]:
    """Compare; return the exit status and the report to print."""
    declared = declared_metrics(new_root / "dvc.yaml")
    thresholds = load_thresholds(thresholds_file, declared)
    commit = resolve_rev(repo, rev)
    if commit is None:
        return 0, f"{rev} does not exist (first commit): nothing to compare against, gate passes"
    new_label = "workspace" if new_root.resolve() == repo.resolve() else "produced"
    rows: list[Row] = []
    notes: list[str] = []
    if reproduce:
        rows, notes = _reproduce(repo, commit, new_root, declared, thresholds)
    else:
        accepted = accepted_drops(repo, commit)
        new_metrics, label, notes = _regression_source(repo, new_root, declared, rev, commit)
        new_label = label or new_label
        for path, rules in thresholds.regression.items():
            rows += regression_rows(path, rules, metrics_at_rev(repo, commit, path), new_metrics(path), accepted)
    failed = [row for row in rows if row.failed]
    shown = rows if show_all or not reproduce else [row for row in rows if row.status != "ok"]
    limit = None if show_all else SHOW_AT_MOST
    what = "reproduce" if reproduce else "regression"
    lines = [f"metric gate ({what}): {rev} ({commit[:10]}) vs {new_label}, thresholds from {thresholds_file}"]
    if shown:
        lines.append(table(shown[:limit], rev, new_label))
    if reproduce:
        exact = sum(row.status == "ok" for row in rows)
        lines.append(f"{exact} of {len(rows)} metrics reproduced within tolerance")
    lines += notes
    ungated = [p for p in declared if p not in thresholds.regression]
    if not reproduce and ungated:
        lines.append(f"not gated (no thresholds): {', '.join(ungated)}")
    lines += [f"FAIL: {row.reason}" for row in failed[:limit]]
    if limit is not None and max(len(shown), len(failed)) > limit:
        lines.append(f"... {len(shown)} rows and {len(failed)} failures in all, first {limit} of each listed (--all lists every one)")
    lines += [f"accepted by a commit trailer: {row.reason}" for row in rows if row.status == "accepted" and row.reason]
    lines.append(f"metric gate ({what}): {'FAILED, ' + str(len(failed)) + ' problem(s)' if failed else 'passed'}")
    return (1 if failed else 0), "\n".join(lines)


def made_on_at_rev(repo: Path, commit: str, committed: dict[str, bytes | None]) -> dict | None:
    """The commit's metrics/made_on.json, checked against its metrics files; None when it has none."""
    text = bytes_at_rev(repo, commit, cpu_kind.MADE_ON)
    if text is None:
        return None
    try:
        made = cpu_kind.parse(text.decode(errors="replace"), f"{cpu_kind.MADE_ON} on {commit[:10]}")
    except ValueError as error:
        raise GateError(str(error)) from None
    behind = cpu_kind.stale(made, committed)
    if behind:
        raise GateError(f"{cpu_kind.MADE_ON} on {commit[:10]} does not vouch for the committed {', '.join(behind)} "
                        f"(changed, added or removed since it was written): after `dvc repro` run `python -m skinlab.gate "
                        f"--record-cpu-kind` on the machine that ran it, and commit {cpu_kind.MADE_ON}")
    return made


def _checkout_of(root: Path) -> str | None:
    done = git(root, "rev-parse", "HEAD")
    return done.stdout.strip() if done.returncode == 0 else None


def _regression_source(repo: Path, new_root: Path, declared: list[str], rev: str, commit: str):
    """Where the regression check reads the new metrics: `new_root`, except for metrics produced
    (by .ci/gate, in a checkout of HEAD) on a CPU kind other than the one that made the rev's:
    rounding across kinds moves a metric by more than a max_drop, so when HEAD's committed metrics
    were made on the rev's kind, those are compared instead (the produced ones were compared with
    them by --reproduce). When no kind matches the rev's, the comparison crosses kinds: said so."""
    produced = (lambda path: metrics_in_dir(new_root, path)), None, []
    if new_root.resolve() == repo.resolve():
        return produced
    head = resolve_rev(repo, "HEAD")
    if _checkout_of(new_root) != head:
        return produced
    rev_made = made_on_at_rev(repo, commit, committed_metrics(repo, commit, declared))
    here = cpu_kind.cpu_kind()
    if rev_made is None or rev_made["cpu_kind"] == here:
        return produced
    head_made = made_on_at_rev(repo, head, committed_metrics(repo, head, declared))
    if head_made is not None and head_made["cpu_kind"] == rev_made["cpu_kind"]:
        note = (f"{rev}'s and HEAD's metrics were made on {rev_made['cpu_kind']}, this machine is {here}: "
                f"HEAD's committed metrics are compared with {rev}'s (the produced ones with HEAD's by --reproduce)")
        return (lambda path: metrics_at_rev(repo, head, path)), "HEAD", [note]
    made = head_made["cpu_kind"] if head_made else "an unrecorded kind"
    return produced[0], None, [f"this comparison crosses CPU kinds: {rev}'s metrics were made on {rev_made['cpu_kind']}, "
                                f"HEAD's on {made}, these on {here} (a drop that is rounding is accepted by a commit trailer)"]


def _waive_rounding(rows: list[Row], rules: list[Rule], bound: float) -> None:
    """On another CPU kind: a number that differs becomes `other CPU`, unless a regression rule gates
    it and it moved more than `bound`; a key or file that is missing still fails."""
    for row in rows:
        if row.status != "MISMATCH" or row.old is None or row.new is None:
            continue
        change = row.new - row.old
        if abs(change) > bound and any(fnmatch.fnmatchcase(row.metric, rule.pattern) for rule in rules):
            row.reason = (f"{row.path} {row.metric} moved {change:+.4f} on this CPU kind "
                          f"({row.old!r} committed, {row.new!r} produced): more than the "
                          f"{bound:g} that reproduce.across_cpu_kinds_max_change allows a gated metric")
        else:
            row.status = "other CPU"


def _reproduce(repo: Path, commit: str, new_root: Path, declared: list[str],
               thresholds: Thresholds) -> tuple[list[Row], list[str]]:
    """reproduce_rows for every declared file; on a CPU kind other than the one metrics/made_on.json
    names, a number that differs is `other CPU` (not a failure) outside `across_cpu_kinds`."""
    committed = committed_metrics(repo, commit, declared)
    made = made_on_at_rev(repo, commit, committed)
    here = cpu_kind.cpu_kind()
    other = made is not None and made["cpu_kind"] != here
    rows: list[Row] = []
    for path in declared:
        old = parse_committed(committed[path], commit, path)
        file_rows = reproduce_rows(path, thresholds.reproduce_default, thresholds.reproduce.get(path, {}),
                                   old, metrics_in_dir(new_root, path))
        if other and path not in thresholds.across_cpu_kinds:
            _waive_rounding(file_rows, thresholds.regression.get(path, []), thresholds.across_cpu_kinds_max_change)
        rows += file_rows
    if made is None:
        return rows, [f"({cpu_kind.MADE_ON} absent on {commit[:10]}: every metric must reproduce on this machine, {here})"]
    if not other:
        return rows, [f"committed metrics made on {made['cpu_kind']} ({cpu_kind.MADE_ON}), this machine too: bit for bit"]
    differ = sorted({row.path for row in rows if row.status == "other CPU"})
    return rows, [f"committed metrics made on {made['cpu_kind']} ({cpu_kind.MADE_ON}); this machine is {here}: "
                  f"rounding differs across CPU kinds, so only {', '.join(thresholds.across_cpu_kinds) or 'no file'} "
                  f"must reproduce bit for bit here; {sum(row.status == 'other CPU' for row in rows)} metrics of "
                  f"{', '.join(differ) or 'no file'} differ (other CPU); a gated one may move at most "
                  f"{thresholds.across_cpu_kinds_max_change:g}"]


def record_cpu_kind(root: Path, note: str = "") -> Path:
    """Write metrics/made_on.json: this machine's CPU kind vouching for the workspace's metrics files."""
    declared = declared_metrics(root / "dvc.yaml")
    missing = [path for path in declared if not (root / path).exists()]
    if missing:
        raise GateError(f"{', '.join(missing)} of {root / 'dvc.yaml'} not found under {root}: run `dvc repro` first")
    metrics = {path: (root / path).read_bytes() for path in declared}
    out = root / cpu_kind.MADE_ON
    data = cpu_kind.record(cpu_kind.cpu_kind(), metrics, note or "written by python -m skinlab.gate --record-cpu-kind")
    out.write_text(json.dumps(data, indent=2) + "\n")
    return out


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rev", help="git rev to compare with (default HEAD~1; HEAD with --reproduce)")
    parser.add_argument("--new", type=Path, default=Path("."), help="repository root holding the new metrics (default: the workspace)")
    parser.add_argument("--thresholds", type=Path, default=Path(THRESHOLDS))
    parser.add_argument("--reproduce", action="store_true", help="every metric must match the rev's within tolerance")
    parser.add_argument("--all", action="store_true", help="list every compared metric, not only the changed ones")
    parser.add_argument("--record-cpu-kind", action="store_true",
                        help=f"write {cpu_kind.MADE_ON}: this CPU kind made the workspace's metrics (after dvc repro)")
    args = parser.parse_args(argv)
    rev = args.rev or ("HEAD" if args.reproduce else "HEAD~1")
    try:
        if args.record_cpu_kind:
            out = record_cpu_kind(args.new)
            print(f"{out}: metrics made on {json.loads(out.read_text())['cpu_kind']}")
            return 0
        status, report = run_gate(Path("."), args.new, rev, args.thresholds, args.reproduce, args.all)
    except GateError as error:
        print(f"metric gate: error: {error}", file=sys.stderr)
        return 2
    print(report)
    return status


if __name__ == "__main__":
    sys.exit(main())
