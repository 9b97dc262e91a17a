"""Program scope: entry points and their import closure decide an item; copies elsewhere are notes."""

from __future__ import annotations

import yaml

from leveraudit.analysis.programs import compute_scope
from leveraudit.engine import run_audit
from leveraudit.extract.discover import discover
from leveraudit.spec import parse_spec
from tests.conftest import write_tree

TREE = {
    "pkg/__init__.py": "from .models import Model as Exported\n",
    "pkg/models/__init__.py": "",
    "pkg/models/model.py": "class Model:\n    pass\n",
    "pkg/data.py": "from . import helpers\n",
    "pkg/helpers.py": "import pkg.models.model as mm\n",
    "pkg/train.py": "import argparse\nfrom pkg import data\n\ndef main():\n    from pkg.lazy import thing\n"
                    "    p = argparse.ArgumentParser()\n    p.add_argument('--epochs', type=int, default=5)\n",
    "pkg/lazy.py": "thing = 1\n",
    "pkg/train_v4_2.py": "import argparse\n\ndef main():\n    p = argparse.ArgumentParser()\n"
                         "    p.add_argument('--epochs', type=int, default=25)\n",
    "pkg/other.py": "x = 1\n",
    "vendor/pkg/helpers.py": "y = 2\n",
}


def _spec(entry, programs=("trainer",), check=None) -> str:
    check = check or {"kind": "cli_option", "dest": "epochs", "default": {"equals": 5}}
    return yaml.safe_dump({"version": 1, "title": "t", "lang": "en", "programs": {"trainer": {"entry": entry}},
                           "items": [{"id": "T", "title": "t", "priority": "high", "programs": list(programs),
                                      "checks": [check]}]})


def test_closure_follows_absolute_relative_aliased_local_and_package_imports(tmp_path):
    root = write_tree(tmp_path / "tree", TREE)
    spec = parse_spec(_spec(["**/train.py"]))
    scope = compute_scope(spec.programs, discover(root, spec.include, spec.exclude).files)
    assert scope.files["trainer"] == {"pkg/train.py", "pkg/__init__.py", "pkg/data.py", "pkg/helpers.py",
                                      "pkg/models/__init__.py", "pkg/models/model.py", "pkg/lazy.py"}


def test_each_files_imports_are_cached_by_content(tmp_path, monkeypatch):
    import leveraudit.analysis.programs as programs

    parsed = []
    real = programs._imports
    monkeypatch.setattr(programs, "_imports", lambda text: parsed.append(text) or real(text))
    root = write_tree(tmp_path / "tree", TREE)
    spec = parse_spec(_spec(["pkg/*.py::main"]))

    def scope():
        found = compute_scope(spec.programs, discover(root, spec.include, spec.exclude).files, tmp_path / "cache")
        return found.files, found.entries

    first = scope()
    count = len(parsed)
    assert count >= 7
    assert scope() == first and len(parsed) == count            # a warm audit parses no file for its scope
    (root / "pkg" / "lazy.py").write_text("thing = 1\nimport pkg.other\n")
    files, _ = scope()
    assert len(parsed) == count + 1 and "pkg/other.py" in files["trainer"]


def test_entry_symbol_must_be_defined(tmp_path):
    root = write_tree(tmp_path / "tree", TREE)
    spec = parse_spec(_spec(["pkg/*.py::main"]))
    scope = compute_scope(spec.programs, discover(root, spec.include, spec.exclude).files)
    assert scope.entries["trainer"] == ["pkg/train.py", "pkg/train_v4_2.py"]


def test_a_copy_beside_the_program_is_a_note_not_a_verdict(tmp_path):
    root = write_tree(tmp_path / "tree", TREE)
    report, _ = run_audit(parse_spec(_spec(["pkg/train.py"])), root, jobs=1)
    check = report.items[0].checks[0]
    assert check.status == "pass"
    assert [e.path for e in check.evidence] == ["pkg/train.py"]
    assert len(check.notes) == 1 and "pkg/train_v4_2.py:5" in check.notes[0]["en"] and "1 disagree" in check.notes[0]["en"]
    # without programs the copy counts, and the tree disagrees with itself
    tree_wide, _ = run_audit(parse_spec(_spec(["pkg/train.py"], programs=())), root, jobs=1)
    assert tree_wide.items[0].checks[0].status == "partial"


def test_a_program_that_matches_nothing_leaves_its_items_undecided(tmp_path):
    root = write_tree(tmp_path / "tree", TREE)
    report, _ = run_audit(parse_spec(_spec(["**/grpo_post_train.py"])), root, jobs=1)
    assert report.items[0].status == "error"
    assert any(d.kind == "program" and "trainer" in d.message for d in report.diagnostics)


def test_items_must_name_declared_programs():
    import pytest

    from leveraudit.spec import SpecError

    with pytest.raises(SpecError, match="unknown program 'nope'"):
        parse_spec(_spec(["pkg/train.py"], programs=("nope",)))
