"""dvc.yaml lists, for every stage, each module of skinlab/ the stage imports (even inside a
function): a module missing there would let `dvc repro` call a stale output up to date."""
import ast
from pathlib import Path

import yaml

from tests.helpers import REPO


def module_file(name: str) -> Path | None:
    path = REPO / Path(*name.split("."))
    if (path / "__init__.py").exists():
        return path / "__init__.py"
    if path.with_suffix(".py").exists():
        return path.with_suffix(".py")
    return None


def imported_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return {name for name in names if name.split(".")[0] in ("skinlab", "stages")}


def project_files(entry: Path) -> set[Path]:
    """The stage script and every project module it reaches, with the packages above them."""
    seen, todo = set(), [entry]
    while todo:
        path = todo.pop()
        if path in seen:
            continue
        seen.add(path)
        for name in imported_modules(path):
            parts = name.split(".")
            for depth in range(1, len(parts) + 1):
                found = module_file(".".join(parts[:depth]))
                if found is not None:
                    todo.append(found)
    return {path.relative_to(REPO) for path in seen if path.name != "__init__.py" or path.parent.name == "skinlab"}


def covered(path: Path, deps: list[str]) -> bool:
    return any(path == Path(dep) or Path(dep) in path.parents for dep in deps)


def test_every_stage_lists_each_module_it_imports():
    stages = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
    missing = {}
    for name, stage in stages.items():
        script = REPO / "stages" / f"{name}.py"
        assert f"python -m stages.{name} " in stage["cmd"] + " ", name
        lacking = sorted(str(p) for p in project_files(script) if not covered(p, stage["deps"]))
        if lacking:
            missing[name] = lacking
    assert missing == {}
