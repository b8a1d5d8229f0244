"""The metric gate on fabricated metric pairs, in both directions, and on a small git history."""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from skinlab import gate
from tests.helpers import REPO

HIGHER = gate.Rule("best.test.balanced_accuracy", "higher", 0.01)
LOWER = gate.Rule("lesions_crossing_splits", "lower", 0.0)


def baselines(bacc, auc=0.9):
    return {"best": {"features": "hog", "test": {"balanced_accuracy": bacc, "macro_auc_ovr": auc, "ci": [bacc - 0.1, bacc + 0.1]}}}


def test_leaves_name_metrics_as_dvc_does():
    data = {"a": {"b": 1, "c": [0.5, 0.7], "d": None, "flag": True, "name": "x"}, "n": 3}
    assert gate.leaves(data) == {"a.b": 1, "a.c.0": 0.5, "a.c.1": 0.7, "a.d": None, "n": 3}


def test_declared_metrics_are_read_from_the_real_dvc_yaml():
    assert gate.declared_metrics(REPO / "dvc.yaml") == ["metrics/download.json", "metrics/split.json",
                                                         "metrics/augment.json", "metrics/train_baselines.json",
                                                         "metrics/train_cnn.json", "metrics/segment.json",
                                                         "metrics/skin_tone_classify.json", "metrics/fairness_eval.json",
                                                         "metrics/embed.json"]


@pytest.mark.parametrize("old, new, status", [
    (0.70, 0.68, "REGRESSION"),   # dropped 0.02 > 0.01
    (0.70, 0.695, "ok"),          # dropped 0.005: within the allowance
    (0.70, 0.69, "ok"),           # dropped exactly the allowance
    (0.70, 0.80, "ok"),           # better
])
def test_higher_is_better(old, new, status):
    [row] = gate.regression_rows("metrics/t.json", [HIGHER], baselines(old), baselines(new))
    assert (row.old, row.new, row.status) == (old, new, status)


@pytest.mark.parametrize("old, new, status", [(0, 2, "REGRESSION"), (2, 0, "ok"), (0, 0, "ok")])
def test_lower_is_better(old, new, status):
    [row] = gate.regression_rows("metrics/split.json", [LOWER], {"lesions_crossing_splits": old}, {"lesions_crossing_splits": new})
    assert row.status == status


def test_a_regression_names_metric_old_and_new_values_and_threshold():
    [row] = gate.regression_rows("metrics/t.json", [HIGHER], baselines(0.7304), baselines(0.6512))
    assert row.failed
    assert row.reason == ("metrics/t.json best.test.balanced_accuracy regressed: 0.7304 -> 0.6512 "
                          "(higher is better; it may drop at most 0.01, it dropped 0.0792)")


def test_new_file_missing_metric_patterns_and_accepted_drops():
    assert [r.status for r in gate.regression_rows("m.json", [HIGHER], None, baselines(0.5))] == ["new"]
    [missing] = gate.regression_rows("m.json", [gate.Rule("best.test.gone", "higher", 0.0)], baselines(0.5), baselines(0.5))
    assert missing.status == "MISSING" and missing.failed
    [no_file] = gate.regression_rows("m.json", [HIGHER], baselines(0.5), None)
    assert no_file.failed and "was not produced" in no_file.reason
    rows = gate.regression_rows("m.json", [gate.Rule("best.test.ci.*", "higher", 0.0)], baselines(0.5), baselines(0.4))
    assert [(r.metric, r.status) for r in rows] == [("best.test.ci.0", "REGRESSION"), ("best.test.ci.1", "REGRESSION")]
    [kept] = gate.regression_rows("m.json", [HIGHER], baselines(0.7), baselines(0.5), {"m.json:best.test.balanced_accuracy"})
    assert kept.status == "accepted" and not kept.failed


def test_reproduce_is_exact_by_default_and_per_pattern_tolerant_where_stated():
    same = gate.reproduce_rows("m.json", 0.0, {}, baselines(0.7), baselines(0.7))
    assert same and all(r.status == "ok" for r in same)
    off = gate.reproduce_rows("m.json", 0.0, {}, baselines(0.7), baselines(0.7 + 1e-9))
    assert [r.metric for r in off if r.failed] == ["best.test.balanced_accuracy", "best.test.ci.0", "best.test.ci.1"]
    assert [r.reason for r in off if r.failed][0] == ("m.json best.test.balanced_accuracy not reproduced: "
                                                      "0.7 committed, 0.7000000009999999 produced (tolerance 0)")
    loose = gate.reproduce_rows("m.json", 0.0, {"best.test.*": 1e-6}, baselines(0.7), baselines(0.7 + 1e-9))
    assert not any(r.failed for r in loose)
    gone = gate.reproduce_rows("m.json", 0.0, {}, {"a": 1, "b": 2}, {"a": 1})
    assert [(r.metric, r.status) for r in gone] == [("a", "ok"), ("b", "MISMATCH")]
    assert gone[1].reason == "m.json b: 2 committed, absent produced"
    assert gate.reproduce_rows("m.json", 0.0, {}, baselines(0.7), None)[0].failed


@pytest.mark.parametrize("content, message", [
    ({"regression": {"metrics/nope.json": {}}}, "regression.metrics/nope.json is not a metrics file of dvc.yaml"),
    ({"regression": {"metrics/split.json": {"x": {"better": "up", "max_drop": 0}}}}, "x.better must be higher or lower"),
    ({"regression": {"metrics/split.json": {"x": {"better": "lower", "max_drop": -1}}}}, "x.max_drop must be a number >= 0"),
    ({"regression": {"metrics/split.json": {"x": {"better": "lower"}}}}, "must be {better: higher|lower, max_drop: <number>}"),
    ({"reproduce": {"default": "exact"}}, "reproduce.default must be a number"),
    ({"reproduce": {"across_cpu_kinds_max_change": -1}}, "reproduce.across_cpu_kinds_max_change must be a number >= 0"),
    ({"gates": {}}, "unknown section(s) ['gates']"),
])
def test_bad_thresholds_files_name_the_key(tmp_path, content, message):
    path = tmp_path / "t.yaml"
    path.write_text(yaml.safe_dump(content))
    with pytest.raises(gate.GateError) as error:
        gate.load_thresholds(path, gate.declared_metrics(REPO / "dvc.yaml"))
    assert message in str(error.value) and str(path) in str(error.value)


def test_the_repository_thresholds_gate_metrics_that_exist():
    declared = gate.declared_metrics(REPO / "dvc.yaml")
    thresholds = gate.load_thresholds(REPO / gate.THRESHOLDS, declared)
    assert "metrics/train_baselines.json" in thresholds.regression
    for path, rules in thresholds.regression.items():
        values = gate.leaves(json.loads((REPO / path).read_text()))
        for rule in rules:
            assert any(gate.fnmatch.fnmatchcase(name, rule.pattern) for name in values), f"{path}: {rule.pattern} matches nothing"


# ---- on a git history ---------------------------------------------------------------------------

def git(root: Path, *args: str) -> None:
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", *args], cwd=root, check=True, capture_output=True)


@pytest.fixture
def history(tmp_path, monkeypatch):
    """A repository with the real dvc.yaml and thresholds, whose first commit has split metrics only."""
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    shutil.copy(REPO / "dvc.yaml", tmp_path / "dvc.yaml")
    (tmp_path / gate.THRESHOLDS).write_text(yaml.safe_dump({"regression": {
        "metrics/split.json": {"lesions_crossing_splits": {"better": "lower", "max_drop": 0}},
        "metrics/train_baselines.json": {"best.test.balanced_accuracy": {"better": "higher", "max_drop": 0.01}}}}))
    (tmp_path / "metrics").mkdir()
    (tmp_path / "metrics" / "split.json").write_text(json.dumps({"lesions_crossing_splits": 0}))
    git(tmp_path, "init", "-q")
    git(tmp_path, "add", ".")
    git(tmp_path, "commit", "-q", "-m", "first")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def commit_baselines(root: Path, bacc: float, message: str = "baselines") -> None:
    (root / "metrics" / "train_baselines.json").write_text(json.dumps(baselines(bacc)))
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", message)


def test_gate_on_a_history(history, capsys):
    assert gate.main([]) == 0  # HEAD~1 does not exist yet
    assert "nothing to compare" in capsys.readouterr().out
    commit_baselines(history, 0.70)  # a new stage: its metrics are not on HEAD~1
    assert gate.main([]) == 0
    assert "| metrics/train_baselines.json | best.test.balanced_accuracy | - | 0.7 | - |" in capsys.readouterr().out
    commit_baselines(history, 0.75)
    assert gate.main([]) == 0
    (history / "metrics" / "train_baselines.json").write_text(json.dumps(baselines(0.60)))  # worse, in the workspace
    assert gate.main([]) == 1
    out = capsys.readouterr().out
    assert "FAIL: metrics/train_baselines.json best.test.balanced_accuracy regressed: 0.7000 -> 0.6000" in out
    assert "| best.test.balanced_accuracy | 0.7 | 0.6 | -0.1 | higher, max drop 0.01 | REGRESSION |" in out
    assert gate.main(["--rev", "HEAD"]) == 1  # 0.75 -> 0.60
    assert "| best.test.balanced_accuracy | 0.75 | 0.6 | -0.15 | higher, max drop 0.01 | REGRESSION |" in capsys.readouterr().out
    assert gate.main(["--rev", "HEAD~2"]) == 0  # the first commit had no baselines: new
    assert gate.main(["--reproduce", "--rev", "HEAD"]) == 1
    assert "not reproduced: 0.75 committed, 0.6 produced" in capsys.readouterr().out


def test_a_commit_trailer_accepts_a_named_drop(history, capsys):
    commit_baselines(history, 0.75)
    commit_baselines(history, 0.60, "Smaller grid\n\nAccept-Metric-Drop: metrics/split.json:lesions_crossing_splits")
    assert gate.main([]) == 1  # the trailer names another metric
    commit_baselines(history, 0.59, "Smaller grid\n\nAccept-Metric-Drop: metrics/train_baselines.json:best.test.balanced_accuracy faster")
    assert gate.main(["--rev", "HEAD~2"]) == 0
    assert "accepted by a commit trailer" in capsys.readouterr().out


def test_unknown_rev_and_bad_files_exit_2(history, capsys):
    assert gate.main(["--rev", "no-such-branch"]) == 2
    assert "unknown git rev 'no-such-branch'" in capsys.readouterr().err
    assert gate.main(["--thresholds", "missing.yaml"]) == 2


def test_a_long_report_lists_the_first_failures_and_counts_them_all(history, capsys):
    commit_baselines(history, 0.70)
    metrics = {"pairs": {f"p{i}": {"bacc": i / 100} for i in range(40)}}
    (history / "metrics" / "train_baselines.json").write_text(json.dumps(metrics))
    assert gate.main(["--reproduce", "--rev", "HEAD"]) == 1
    out = capsys.readouterr().out
    assert out.count("FAIL: ") == gate.SHOW_AT_MOST
    assert f"... 44 rows and 44 failures in all, first {gate.SHOW_AT_MOST} of each listed (--all lists every one)" in out
    assert gate.main(["--reproduce", "--rev", "HEAD", "--all"]) == 1
    assert capsys.readouterr().out.count("FAIL: ") == 44


# ---- the CPU kind that made the committed metrics --------------------------------------------------

def commit_made_on(root: Path, kind: str, bacc: float, across: list[str] | None = None) -> None:
    """Baselines and split metrics committed with a made_on.json naming `kind` (and thresholds
    with `across_cpu_kinds`)."""
    thresholds = yaml.safe_load((root / gate.THRESHOLDS).read_text())
    thresholds["reproduce"] = {"default": 0.0, "across_cpu_kinds": across or ["metrics/split.json"]}
    (root / gate.THRESHOLDS).write_text(yaml.safe_dump(thresholds))
    (root / "metrics" / "train_baselines.json").write_text(json.dumps(baselines(bacc)))
    metrics = {path: (root / path).read_bytes() for path in gate.declared_metrics(root / "dvc.yaml") if (root / path).exists()}
    (root / gate.cpu_kind.MADE_ON).write_text(json.dumps(gate.cpu_kind.record(kind, metrics)))
    git(root, "add", ".")
    git(root, "commit", "-q", "-m", f"metrics made on {kind}")


def test_reproduce_is_bit_for_bit_on_the_kind_that_made_the_metrics(history, capsys):
    commit_made_on(history, gate.cpu_kind.cpu_kind(), 0.70)
    assert gate.main(["--reproduce", "--rev", "HEAD"]) == 0
    assert "this machine too: bit for bit" in capsys.readouterr().out
    (history / "metrics" / "train_baselines.json").write_text(json.dumps(baselines(0.70 + 1e-12)))
    assert gate.main(["--reproduce", "--rev", "HEAD"]) == 1
    assert "best.test.balanced_accuracy not reproduced" in capsys.readouterr().out


def test_on_another_kind_rounding_differences_are_listed_not_failed_outside_across_cpu_kinds(history, capsys):
    commit_made_on(history, "SomeVendor avx512 x64", 0.70)
    (history / "metrics" / "train_baselines.json").write_text(json.dumps(baselines(0.71)))
    assert gate.main(["--reproduce", "--rev", "HEAD"]) == 0
    out = capsys.readouterr().out
    assert "| metrics/train_baselines.json | best.test.balanced_accuracy | 0.7 | 0.71 | +0.01 | ±0 | other CPU |" in out
    assert f"made on SomeVendor avx512 x64 (metrics/made_on.json); this machine is {gate.cpu_kind.cpu_kind()}" in out
    assert "only metrics/split.json must reproduce bit for bit here; 3 metrics of metrics/train_baselines.json differ" in out
    # a file of across_cpu_kinds must still match exactly, and a key gone is no rounding difference
    (history / "metrics" / "split.json").write_text(json.dumps({"lesions_crossing_splits": 1}))
    assert gate.main(["--reproduce", "--rev", "HEAD"]) == 1
    assert "metrics/split.json lesions_crossing_splits not reproduced" in capsys.readouterr().out
    (history / "metrics" / "split.json").write_text(json.dumps({"lesions_crossing_splits": 0}))
    (history / "metrics" / "train_baselines.json").write_text(json.dumps({"best": {"features": "hog"}}))
    assert gate.main(["--reproduce", "--rev", "HEAD"]) == 1
    assert "best.test.balanced_accuracy: 0.7 committed, absent produced" in capsys.readouterr().out


def test_a_record_left_behind_by_newer_metrics_is_an_error_that_says_what_to_run(history, capsys):
    commit_made_on(history, "SomeVendor avx512 x64", 0.70)
    commit_baselines(history, 0.72, "new metrics, made_on.json not rewritten")
    assert gate.main(["--reproduce", "--rev", "HEAD"]) == 2
    err = capsys.readouterr().err
    assert "metrics/made_on.json on " in err and "does not vouch for the committed metrics/train_baselines.json" in err
    assert "python -m skinlab.gate --record-cpu-kind" in err
    assert gate.main(["--record-cpu-kind"]) == 2   # not every declared metrics file is there
    assert "metrics/download.json, metrics/augment.json" in capsys.readouterr().err
    for path in gate.declared_metrics(history / "dvc.yaml"):
        if not (history / path).exists():
            (history / path).write_text("{}")
    assert gate.main(["--record-cpu-kind"]) == 0
    assert f"metrics made on {gate.cpu_kind.cpu_kind()}" in capsys.readouterr().out
    git(history, "add", ".")
    git(history, "commit", "-q", "-m", "record")
    assert gate.main(["--reproduce", "--rev", "HEAD"]) == 0
    assert "this machine too: bit for bit" in capsys.readouterr().out


def test_without_a_record_every_metric_must_reproduce_here(history, capsys):
    commit_baselines(history, 0.70)
    (history / "metrics" / "train_baselines.json").write_text(json.dumps(baselines(0.71)))
    assert gate.main(["--reproduce", "--rev", "HEAD"]) == 1
    out = capsys.readouterr().out
    assert "metrics/made_on.json absent on " in out and "MISMATCH" in out and "other CPU" not in out


@pytest.mark.parametrize("across, message", [(["metrics/nope.json"], "across_cpu_kinds names 'metrics/nope.json'"),
                                              ("metrics/split.json", "across_cpu_kinds must be a list")])
def test_across_cpu_kinds_must_list_metrics_files(tmp_path, across, message):
    path = tmp_path / "t.yaml"
    path.write_text(yaml.safe_dump({"reproduce": {"across_cpu_kinds": across}}))
    with pytest.raises(gate.GateError, match=message):
        gate.load_thresholds(path, gate.declared_metrics(REPO / "dvc.yaml"))


def test_bad_committed_json_is_named(history, capsys):
    (history / "metrics" / "split.json").write_text("{")
    git(history, "commit", "-q", "-am", "broken")
    (history / "metrics" / "split.json").write_text("{}")
    assert gate.main(["--reproduce", "--rev", "HEAD"]) == 2
    assert "metrics/split.json on " in capsys.readouterr().err


def test_the_committed_record_vouches_for_the_committed_metrics():
    """metrics/made_on.json of HEAD must be rewritten whenever a commit changes a metrics file (the
    gate refuses a stale one); read from git, so a `make run` in the workspace does not matter."""
    if shutil.which("git") is None or gate.resolve_rev(REPO, "HEAD") is None:
        pytest.skip("not a git checkout: no committed metrics to compare")
    head = gate.resolve_rev(REPO, "HEAD")
    made = gate.cpu_kind.parse(gate.bytes_at_rev(REPO, head, gate.cpu_kind.MADE_ON).decode(), gate.cpu_kind.MADE_ON)
    declared = gate.declared_metrics(REPO / "dvc.yaml")
    assert gate.cpu_kind.stale(made, {path: gate.bytes_at_rev(REPO, head, path) for path in declared}) == []


def produced_at_head(history: Path, where: Path, bacc: float) -> Path:
    """What .ci/gate's fresh repro leaves: a checkout of HEAD whose baselines came out at `bacc`."""
    shutil.rmtree(where, ignore_errors=True)
    subprocess.run(["git", "clone", "-q", str(history), str(where)], check=True, capture_output=True)
    (where / "metrics" / "train_baselines.json").write_text(json.dumps(baselines(bacc)))
    return where


def test_regression_on_another_kind_compares_the_committed_metrics(history, tmp_path_factory, capsys):
    """Produced on a kind other than the rev's, the numbers differ by rounding more than a max_drop:
    when HEAD's were made on the rev's kind, HEAD's committed metrics are compared instead."""
    where = tmp_path_factory.mktemp("produced") / "clone"
    commit_made_on(history, "SomeVendor avx512 x64", 0.70)
    commit_made_on(history, "SomeVendor avx512 x64", 0.75)
    assert gate.main(["--rev", "HEAD~1", "--new", str(produced_at_head(history, where, 0.60))]) == 0
    out = capsys.readouterr().out
    assert "| metrics/train_baselines.json | best.test.balanced_accuracy | 0.7 | 0.75 | +0.05 |" in out
    assert "HEAD's committed metrics are compared with HEAD~1's" in out
    commit_made_on(history, "SomeVendor avx512 x64", 0.65)   # the commit itself is worse
    assert gate.main(["--rev", "HEAD~1", "--new", str(produced_at_head(history, where, 0.60))]) == 1
    assert "regressed: 0.7500 -> 0.6500" in capsys.readouterr().out
    # a folder that is not a checkout of HEAD: its own numbers
    other = tmp_path_factory.mktemp("other")
    shutil.copytree(history, other / "copy", ignore=shutil.ignore_patterns(".git"))
    (other / "copy" / "metrics" / "train_baselines.json").write_text(json.dumps(baselines(0.60)))
    assert gate.main(["--rev", "HEAD", "--new", str(other / "copy")]) == 1
    assert "regressed: 0.6500 -> 0.6000" in capsys.readouterr().out


def test_regression_across_kinds_compares_what_was_produced_and_says_so(history, tmp_path_factory, capsys):
    where = tmp_path_factory.mktemp("produced") / "clone"
    commit_made_on(history, "SomeVendor avx512 x64", 0.70)
    commit_made_on(history, gate.cpu_kind.cpu_kind(), 0.69)   # rebased on this kind
    assert gate.main(["--rev", "HEAD~1", "--new", str(produced_at_head(history, where, 0.69))]) == 0
    assert "this comparison crosses CPU kinds: HEAD~1's metrics were made on SomeVendor avx512 x64" in capsys.readouterr().out
    assert gate.main(["--rev", "HEAD~1", "--new", str(produced_at_head(history, where, 0.60))]) == 1
    assert "regressed: 0.7000 -> 0.6000" in capsys.readouterr().out
    commit_made_on(history, gate.cpu_kind.cpu_kind(), 0.70)   # the rev made here: the produced ones count
    assert gate.main(["--rev", "HEAD~1", "--new", str(produced_at_head(history, where, 0.60))]) == 1
    out = capsys.readouterr().out
    assert "regressed: 0.6900 -> 0.6000" in out and "crosses" not in out


def test_on_another_kind_a_gated_metric_may_move_only_so_far(history, capsys):
    commit_made_on(history, "SomeVendor avx512 x64", 0.70)
    (history / "metrics" / "train_baselines.json").write_text(json.dumps(baselines(0.50)))
    assert gate.main(["--reproduce", "--rev", "HEAD"]) == 1
    out = capsys.readouterr().out
    assert ("metrics/train_baselines.json best.test.balanced_accuracy moved -0.2000 on this CPU kind "
            "(0.7 committed, 0.5 produced): more than the 0.1 that reproduce.across_cpu_kinds_max_change") in out
    assert "| best.test.ci.0 | 0.6 | 0.4 | -0.2 | ±0 | other CPU |" in out   # not gated: listed only
