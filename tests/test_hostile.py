"""Hostile or broken input: reported with positions, never a traceback, the rest still audited."""

from __future__ import annotations

import os
import shutil

from typer.testing import CliRunner

from leveraudit.cli import app
from leveraudit.engine import run_audit
from tests.conftest import FIXTURES, V3, run_check, statuses, write_tree

runner = CliRunner()


def test_syntax_error_is_reported_and_the_rest_is_audited(tmp_path, v3_spec):
    root = tmp_path / "tree"
    shutil.copytree(FIXTURES / "research_after", root)
    # broken.py mentions what 3.2 looks for, so it must be parsed, and it does not parse
    (root / "lever_lm" / "broken.py").write_text("def load_sft_model(:\n    model.load_state_dict(sd, strict=False)\n",
                                                  encoding="utf-8")
    report, _ = run_audit(v3_spec, root, jobs=1)
    syntax = [d for d in report.diagnostics if d.kind == "syntax-error"]
    assert [(d.path, d.line) for d in syntax] == [("lever_lm/broken.py", 1)]
    assert statuses(report)["3.1"] == "pass"


def test_a_check_whose_only_target_does_not_parse_is_error_not_pass(tmp_path):
    result = run_check(tmp_path, {"kind": "param", "function": "DS.__init__", "name": "skip"},
                       {"d.py": "class DS:\n    def __init__(self, skip=False)\n        pass\n"})
    assert result.status == "error" and "d.py:2" in result.message["en"]


def test_odd_files_are_skipped_with_reasons(tmp_path):
    root = write_tree(tmp_path / "tree", {"ok.py": "x = 1\n", "empty.py": ""})
    (root / "latin1.py").write_bytes("s = 'caf\xe9'\n".encode("latin-1"))
    (root / "binary.py").write_bytes(b"\x00\x01\x02")
    (root / "huge.py").write_bytes(b"# x\n" * (1_400_000))
    os.symlink(root, root / "loop")
    os.symlink(root / "ok.py", root / "link.py")
    result = runner.invoke(app, ["check", "--spec", str(V3), str(root), "-f", "json", "--no-cache", "--lang", "en"])
    assert result.exit_code == 1 and "Traceback" not in result.output
    import json
    reasons = {d["path"]: d["message"] for d in json.loads(result.stdout)["diagnostics"]}
    assert reasons["latin1.py"].startswith("not UTF-8")
    assert reasons["binary.py"].startswith("binary")
    assert reasons["huge.py"].startswith("larger than 5 MB")
    assert reasons["link.py"].startswith("symbolic link")
    assert "loop" not in reasons, "symlinked directories are never entered"


def test_gitignore_and_excludes_are_honoured(tmp_path, v3_spec):
    root = tmp_path / "tree"
    shutil.copytree(FIXTURES / "research_before", root)
    (root / ".gitignore").write_text("generated/\n", encoding="utf-8")
    after = FIXTURES / "research_after" / "lever_lm"
    shutil.copytree(after, root / "generated" / "lever_lm")
    shutil.copytree(after, root / ".venv" / "lib" / "lever_lm")
    shutil.copytree(after, root / "tests" / "fixtures" / "lever_lm")
    report, _ = run_audit(v3_spec, root, jobs=1)
    assert report.summary.pass_ == 5, "ignored and excluded copies of passing code must not count"


def test_deeply_nested_code_does_not_crash(tmp_path):
    deep = "x = " + "(" * 200 + "1" + ")" * 200 + "\n"
    result = run_check(tmp_path, {"kind": "assigns_key", "key": "mode"}, {"d.py": deep + "c = {}\nc['mode'] = 'file'\n"})
    assert result.status in {"pass", "error"}
