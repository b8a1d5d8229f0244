"""swap_dir and atomic_dir leave exactly one complete directory behind: no `.old`, no `.tmp`."""

from skinlab import io


def names(folder):
    return sorted(p.name for p in folder.iterdir())


def test_atomic_dir_replaces_an_existing_directory_and_leaves_nothing_else(tmp_path):
    out = tmp_path / "out"
    for text in ("first", "second", "third"):
        with io.atomic_dir(out) as tmp:
            (tmp / "a.txt").write_text(text)
        assert names(tmp_path) == ["out"], text
    assert (out / "a.txt").read_text() == "third"
    assert names(out) == ["a.txt"]


def test_swap_dir_replaces_the_old_contents_and_removes_the_old_copy(tmp_path):
    out, new = tmp_path / "out", tmp_path / "new"
    out.mkdir()
    (out / "stale.txt").write_text("old")
    new.mkdir()
    (new / "fresh.txt").write_text("new")
    io.swap_dir(new, out)
    assert names(tmp_path) == ["out"]
    assert names(out) == ["fresh.txt"]


def test_swap_dir_clears_an_old_copy_left_by_a_killed_run(tmp_path):
    out, new, old = tmp_path / "out", tmp_path / "new", tmp_path / "out.old"
    old.mkdir()
    (old / "leftover.txt").write_text("from a run killed between the two renames")
    new.mkdir()
    (new / "fresh.txt").write_text("new")
    io.swap_dir(new, out)
    assert names(tmp_path) == ["out"]
    assert names(out) == ["fresh.txt"]
