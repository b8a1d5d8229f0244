"""README figures against committed metrics; experiment snapshots; declared plots exist."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

from skinlab import gate, report, results
from tests.helpers import REPO


def test_every_readme_table_and_figure_agrees_with_its_committed_metrics():
    problems = results.check(REPO / "README.md")
    assert problems == [], "\n".join(problems + ["(python -m skinlab.results update README.md rewrites them)"])
    blocks = results.find_blocks((REPO / "README.md").read_text().splitlines())
    runs = {block.run for block in blocks}
    assert "." in runs and len(runs) >= 3, runs  # the default pipeline and the snapshots


def test_every_snapshot_named_in_the_readme_is_complete():
    blocks = results.find_blocks((REPO / "README.md").read_text().splitlines())
    declared = gate.declared_metrics(REPO / "dvc.yaml")
    for block in blocks:
        if block.run == ".":
            continue
        files = ["params.yaml", *(f"metrics/{stage}.json" for stage in report.KIND_FILES[block.kind])]
        assert set(files[1:]) <= set(declared), block.label  # only metrics the pipeline declares
        missing = [f"{run}/{f}" for run in report.run_dirs(REPO / block.run) for f in files if not (run / f).is_file()]
        assert not missing, f"{block.label}: {missing}"


def pair(features, model, val, bacc):
    test = {"balanced_accuracy": bacc, "balanced_accuracy_ci95": [bacc - 0.1, bacc + 0.1], "accuracy": 0.8, "macro_f1": 0.5,
            "macro_auc_ovr": 0.9, "melanoma_sensitivity": 0.5, "melanoma_specificity": 0.9, "malignant_auc": 0.8}
    return {"features": features, "model": model, "val_balanced_accuracy": val, "test": test}


@pytest.fixture
def project(tmp_path):
    """A run folder with fabricated metrics and a README whose blocks were rendered from them."""
    metrics = {"pairs": {"hog+svm": pair("hog", "svm", 0.6, 0.55), "lbp+knn": pair("lbp", "knn", 0.4, 0.35)},
               "best": {**pair("hog", "svm", 0.6, 0.55)}}
    run = tmp_path / "results" / "demo"
    (run / "metrics").mkdir(parents=True)
    (run / "metrics" / "train_baselines.json").write_text(json.dumps(metrics))
    readme = tmp_path / "README.md"
    readme.write_text("# x\n\n## Results\n\n<!-- results: baselines results/demo -->\n"
                      + report.render("baselines", run) + "\n\n<!-- results: best results/demo -->\n"
                      + report.render("best", run) + "\n\n## Next\n")
    return readme, run


def test_a_changed_cell_is_named_by_table_row_and_column(project):
    readme, _ = project
    assert results.check(readme) == []
    readme.write_text(readme.read_text().replace("| lbp | knn | 0.400 | 0.350 |", "| lbp | knn | 0.400 | 0.360 |"))
    [problem] = results.check(readme)
    assert problem == (f"{readme}: table 'baselines results/demo', row 4 (lbp knn), column 'bal. acc.': "
                       "README has '0.360', the metrics give '0.350'")


def test_a_changed_metric_is_caught_in_text_too(project):
    readme, run = project
    metrics = json.loads((run / "metrics" / "train_baselines.json").read_text())
    metrics["best"]["test"]["accuracy"] = 0.75
    (run / "metrics" / "train_baselines.json").write_text(json.dumps(metrics))
    [problem] = results.check(readme)
    assert "text 'best results/demo'" in problem and "README has '0.800,', the metrics give '0.750,'" in problem
    assert results.update(readme) == 1
    assert results.check(readme) == []


def test_missing_rows_unmarked_tables_and_unknown_kinds_are_reported(project):
    readme, _ = project
    text = readme.read_text()
    lines = [line for line in text.splitlines() if not line.startswith("| lbp |")]
    readme.write_text("\n".join(lines) + "\n\n## Results again\n")
    assert results.check(readme) == [f"{readme}: table 'baselines results/demo': README has 1 rows, the metrics give 2"]
    readme.write_text(text.replace("## Next", "| a | b |\n|---|---|\n\n<!-- results: pie results/demo -->\nx\n\n## Next"))
    problems = results.check(readme)
    assert any("table at line" in p and "has no `<!-- results: KIND RUN -->` marker" in p for p in problems), problems
    assert any("marker 'pie results/demo' cannot be rendered: unknown report kind 'pie'" in p for p in problems), problems


def test_save_copies_params_and_every_declared_metrics_file(tmp_path):
    shutil.copy(REPO / "dvc.yaml", tmp_path / "dvc.yaml")
    (tmp_path / "params.yaml").write_text("base: {seed: 1}\n")
    with pytest.raises(results.ResultsError, match="missing metrics/download.json"):
        results.save("demo", tmp_path, check_status=False)
    for path in gate.declared_metrics(tmp_path / "dvc.yaml"):
        (tmp_path / path).parent.mkdir(exist_ok=True)
        (tmp_path / path).write_text(json.dumps({"path": path}))
    out = results.save("demo", tmp_path, check_status=False)
    assert out == tmp_path / "results" / "demo"
    assert json.loads((out / "metrics" / "split.json").read_text()) == {"path": "metrics/split.json"}
    assert (out / "params.yaml").read_text() == "base: {seed: 1}\n"
    with pytest.raises(results.ResultsError, match="snapshot name"):
        results.save("../escape", tmp_path, check_status=False)


def test_every_declared_plot_resolves_to_a_committed_file_with_its_fields():
    """`dvc plots show` renders what dvc.yaml declares: each file exists and has the x/y it names."""
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    declared = [(name, entry) for stage in stages.values() for entry in stage.get("plots", [])
                for name in ([entry] if isinstance(entry, str) else entry)]
    assert len(declared) >= 9
    for name, entry in declared:
        path = REPO / name
        options = entry[name] if isinstance(entry, dict) else {}
        if path.is_dir():  # a folder of plots (plots/embed): its data files carry the fields, its images none
            data = [p for p in path.iterdir() if p.suffix in (".csv", ".json")]
            assert data, f"dvc.yaml declares plot folder {name}, which holds no data file"
            for file in data:
                assert {options["x"], options["y"]} <= set(file.read_text().splitlines()[0].split(",")), file
            continue
        assert path.is_file(), f"dvc.yaml declares plot {name}, which does not exist"
        if "x" in options:
            if path.suffix == ".json":
                rows = json.loads(path.read_text())
                fields = set(rows[0])
            else:
                fields = set(path.read_text().splitlines()[0].split(","))
            assert {options["x"], options["y"]} <= fields, name
