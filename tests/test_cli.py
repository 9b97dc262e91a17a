"""The CLI in-process: formats, exit codes, explain, one-line errors."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from leveraudit.cli import app
from tests.conftest import FIXTURES, V3

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def test_gate_exit_codes(tmp_path):
    before, after = FIXTURES / "research_before", FIXTURES / "research_after"
    cache = tmp_path / "cache"
    assert invoke("check", "--spec", V3, before, "--cache-dir", cache).exit_code == 1
    assert invoke("check", "--spec", V3, after, "--cache-dir", cache).exit_code == 0
    assert invoke("check", "--spec", V3, before, "--fail-on", "never", "--cache-dir", cache).exit_code == 0
    partial_only = invoke("check", "--spec", V3, after, "--fail-on", "partial", "--cache-dir", cache)
    assert partial_only.exit_code == 0


def test_formats_and_output_file(tmp_path):
    out = tmp_path / "report.json"
    result = invoke("check", "--spec", V3, FIXTURES / "research_before", "-f", "json", "-o", out, "--no-cache")
    assert result.exit_code == 1
    assert json.loads(out.read_text(encoding="utf-8"))["summary"]["pass"] == 5
    md = invoke("check", "--spec", V3, FIXTURES / "research_before", "-f", "md", "--lang", "en", "--no-cache")
    assert "**Overall progress:** 5/8 items implemented (62.5%)" in md.stdout
    zh = invoke("check", "--spec", V3, FIXTURES / "research_before", "-f", "md", "--no-cache")
    assert "**总体进度：** 5/8 项已实现（62.5%）" in zh.stdout, "the spec's lang (zh) is the default"


def test_unusable_root_and_spec_exit_2(tmp_path):
    missing = invoke("check", "--spec", V3, tmp_path / "nope")
    assert missing.exit_code == 2 and "does not exist" in missing.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text("version: 1\ntitle: t\nitems:\n  - id: '1'\n    title: t\n    priority: urgent\n    checks: []\n")
    result = invoke("check", "--spec", bad, FIXTURES / "research_before")
    assert result.exit_code == 2
    assert result.stderr.count("\n") == 1 and "bad.yaml:6: items[0].priority" in result.stderr
    assert "Traceback" not in result.output


def test_explain_item_check_and_kind():
    item = invoke("explain", "3.3.3", "--spec", V3, "--lang", "en")
    assert item.exit_code == 0 and "3.3.3/passed-to-datasets" in item.stdout and "min_count" in item.stdout
    kind = invoke("explain", "guard")
    assert kind.exit_code == 0 and "exits" in kind.stdout and "before" in kind.stdout
    unknown = invoke("explain", "9.9", "--spec", V3)
    assert unknown.exit_code == 2


def test_every_subcommand_accepts_verbose():
    from typer.testing import CliRunner

    from leveraudit.cli import app

    commands = ["check", "explain", "fix", "surface", "test", "schema", "version"]
    for command in commands:
        assert "--verbose" in CliRunner().invoke(app, [command, "--help"]).output, command
