"""`leveraudit fix`: codemods from the spec's templates turn the mechanical gaps green, minimally,
keeping the files parseable, and a second run changes nothing."""

from __future__ import annotations

import shutil

import libcst as cst
from typer.testing import CliRunner

from leveraudit.cli import app
from leveraudit.engine import run_audit
from leveraudit.fix import apply_fixes
from tests.conftest import FIXTURES, V3, run_check, statuses

runner = CliRunner()


def test_fix_round_trip_on_the_before_tree(tmp_path, v3_spec):
    root = tmp_path / "tree"
    shutil.copytree(FIXTURES / "research_before", root)
    report, _ = run_audit(v3_spec, root, jobs=1)
    result = apply_fixes(v3_spec, root, report)
    assert sorted(result.fixed) == ["3.3.1/eval-mode-field", "3.3.2/filter", "3.3.2/param", "3.3.3/option",
                                    "3.3.3/passed-to-datasets"]
    added = [line for line in result.diff().splitlines() if line.startswith("+") and not line.startswith("+++")]
    removed = [line for line in result.diff().splitlines() if line.startswith("-") and not line.startswith("---")]
    assert removed == [] and len(added) == 12, "the diff only adds the missing code"
    for rel in result.changed:
        cst.parse_module((root / rel).read_text(encoding="utf-8"))
    after, _ = run_audit(v3_spec, root, jobs=1)
    assert statuses(after) == {item: "pass" for item in statuses(after)}
    again = apply_fixes(v3_spec, root, after)
    assert again.changed == {} and again.fixed == []


def test_fix_cli_diff_does_not_write(tmp_path):
    root = tmp_path / "tree"
    shutil.copytree(FIXTURES / "research_before", root)
    before = (root / "lever_lm/models/v3/dataset_v3.py").read_text(encoding="utf-8")
    result = runner.invoke(app, ["fix", str(root), "--spec", str(V3), "--diff"])
    assert result.exit_code == 0
    assert "+        skip_fallback_reward: bool = False," in result.stdout
    assert "not fixed 3.5.2/pointer-head-trains: no safe automatic fix" in result.stderr
    assert (root / "lever_lm/models/v3/dataset_v3.py").read_text(encoding="utf-8") == before


def test_single_line_calls_and_signatures(tmp_path):
    files = {"d.py": "class DS:\n    def __init__(self, data, k=1):\n        self.data = data\n",
             "t.py": "import argparse\ndef main():\n    parser = argparse.ArgumentParser()\n    args = parser.parse_args()\n"
                     "    a = DS(1, k=2)\n    b = DS(2)\n"}
    from leveraudit.spec import parse_spec
    from tests.conftest import one_check_spec, write_tree

    root = write_tree(tmp_path / "tree", files)
    for check in ({"kind": "param", "function": "DS.__init__", "name": "skip",
                   "autofix": {"template": "skip: bool = False", "body": ["self.skip = skip"]}},
                  {"kind": "call_kwarg", "callee": "DS", "keyword": "skip", "autofix": {"value": "$ARGS.skip"}}):
        spec = parse_spec(one_check_spec(check))
        report, _ = run_audit(spec, root, jobs=1)
        apply_fixes(spec, root, report)
    assert (root / "d.py").read_text() == ("class DS:\n    def __init__(self, data, k=1, skip: bool = False):\n"
                                           "        self.skip = skip\n        self.data = data\n")
    assert "    a = DS(1, k=2, skip=args.skip)\n    b = DS(2, skip=args.skip)\n" in (root / "t.py").read_text()
    assert run_check(tmp_path / "again", {"kind": "call_kwarg", "callee": "DS", "keyword": "skip"},
                     {"t.py": (root / "t.py").read_text()}).status == "pass"


def test_guard_and_default_fixes(tmp_path):
    from leveraudit.spec import parse_spec
    from tests.conftest import one_check_spec, write_tree

    files = {"t.py": "import argparse\n\n\nclass T:\n    def train(self):\n        warmup()\n"
                     "        for e in range(self.n):\n            step()\n\n\n"
                     "def main():\n    parser = argparse.ArgumentParser()\n"
                     "    parser.add_argument('--n', type=int, default=3)\n    return parser.parse_args()\n"}
    root = write_tree(tmp_path / "tree", files)
    checks = [{"kind": "guard", "inside": "T.train", "condition": "$S.n <= 0", "exits": ["return"],
               "before": ["for $E in range(..., $S.n): ..."],
               "autofix": {"template": "if $S.n <= 0:\n    return"}},
              {"kind": "cli_option", "dest": "n", "default": {"equals": 0}, "autofix": {}}]
    for check in checks:
        spec = parse_spec(one_check_spec(check))
        report, _ = run_audit(spec, root, jobs=1)
        assert report.items[0].status == "fail"
        apply_fixes(spec, root, report)
        report, _ = run_audit(spec, root, jobs=1)
        assert report.items[0].status == "pass", check["kind"]
    text = (root / "t.py").read_text()
    assert "        warmup()\n        if self.n <= 0:\n            return\n        for e in range(self.n):" in text
    assert "parser.add_argument('--n', type=int, default=0)" in text
