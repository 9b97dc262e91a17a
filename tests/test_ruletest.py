"""`leveraudit test`: fixture trees with expected verdicts, as users test their own specs."""

from __future__ import annotations

import shutil

from typer.testing import CliRunner

from leveraudit.cli import app
from tests.conftest import FIXTURES, V3

runner = CliRunner()


def test_the_projects_own_fixtures_pass():
    result = runner.invoke(app, ["test", str(FIXTURES), "--spec", str(V3)])
    assert result.exit_code == 0, result.stdout
    assert "ok    research_before (11 expectations)" in result.stdout


def test_wrong_expectations_fail_and_name_the_difference(tmp_path):
    shutil.copytree(FIXTURES / "research_before", tmp_path / "before")
    (tmp_path / "before" / "expect.yaml").write_text('items: {"3.3.2": pass}\n', encoding="utf-8")
    shutil.copytree(FIXTURES / "research_after", tmp_path / "inline")
    (tmp_path / "inline" / "expect.yaml").unlink()
    (tmp_path / "inline" / "notes.py").write_text("# expect: pass 3.3.3\n# expect: fail 3.3.3/opt-in-flag\n")
    (tmp_path / "empty").mkdir()
    result = runner.invoke(app, ["test", str(tmp_path), "--spec", str(V3)])
    assert result.exit_code == 1
    assert "FAIL  before" in result.stdout and "3.3.2: expected pass, got partial" in result.stdout
    assert "ok    inline (2 expectations)" in result.stdout
    assert "FAIL  empty: no expectations" in result.stdout
    assert result.stdout.strip().endswith("1 passed, 2 failed")
