"""The CLI in-process: formats, exit codes, explain, one-line errors."""

from __future__ import annotations

import pytest

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


@pytest.mark.parametrize("cli", ["leveraudit", "leverplus"])
def test_help_fits_80_columns_without_truncation_or_bool_metavars(cli):
    import importlib

    from typer.testing import CliRunner

    app = importlib.import_module(f"{cli}.cli").app
    commands = [None, *sorted(c.name or c.callback.__name__.replace("_", "-") for c in app.registered_commands)]
    for command in commands:
        result = CliRunner().invoke(app, ([command] if command else []) + ["--help"], env={"COLUMNS": "200"})
        assert result.exit_code == 0, (command, result.output)
        wide = [line for line in result.output.splitlines() if len(line) > 80]
        assert wide == [], (command, wide[:3])
        assert "<bool>" not in result.output and "…" not in result.output, command


def test_the_example_workflow_installs_from_the_repository_and_uses_real_flags():
    import re

    import yaml
    from typer.testing import CliRunner

    from leveraudit.cli import app
    from tests.conftest import REPO

    text = (REPO / "docs" / "leveraudit-pull-request.yml").read_text(encoding="utf-8")
    workflow = yaml.safe_load(text)
    runs = "\n".join(step.get("run", "") for step in workflow["jobs"]["audit"]["steps"])
    assert "pip install leverplus-audit" not in runs, "that name is on no package index"
    assert 'pip install --quiet "git+https://github.com/${LEVERAUDIT_REPO}@${LEVERAUDIT_REF}"' in runs
    assert "/tmp/base/rules/v3.yaml" in runs, "the gate's spec comes from the base branch"
    known = CliRunner().invoke(app, ["check", "--help"], env={"COLUMNS": "200"}).output
    for flag in set(re.findall(r"leveraudit check [^\n]*", runs)):
        for option in re.findall(r"(--[a-z-]+)", flag):
            assert option in known, option


def test_outputs_follow_the_umask(tmp_path):
    import os

    from leveraudit.atomic import write_atomically

    old = os.umask(0o027)
    try:
        write_atomically(tmp_path / "report.json", b"{}")
        assert (tmp_path / "report.json").stat().st_mode & 0o777 == 0o640, "not mkstemp's 0600"
        try:
            from leverplus.data import write_json_atomic
        except ImportError:  # leverplus needs torch only for training; data.py imports without it
            return
        write_json_atomic(tmp_path / "rl.json", {})
        assert (tmp_path / "rl.json").stat().st_mode & 0o777 == 0o640
    finally:
        os.umask(old)


@pytest.mark.parametrize("entry", [["-m", "leveraudit"], ["-c", "from leveraudit.launch import run; run()"]],
                         ids=["python -m", "console script"])
def test_the_fast_exit_keeps_every_byte_and_the_exit_status(tmp_path, entry):
    # the process ends with os._exit (no interpreter teardown): what it printed into a pipe must all
    # arrive, and the gate's status, an input error's 2 and a usage error's status must be kept
    import subprocess
    import sys

    import os

    buffered = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}   # as a user's shell has it

    def run(*args):
        return subprocess.run([sys.executable, *entry, *map(str, args)], capture_output=True, text=True,
                              timeout=120, env=buffered)

    report = run("check", "--spec", V3, FIXTURES / "research_before", "-f", "json", "--no-cache", "-v")
    assert report.returncode == 1
    assert json.loads(report.stdout)["summary"]["pass"] == 5
    assert "functions analysed" in report.stderr   # stderr after the report, flushed too
    for form in ("md", "github", "terminal"):   # what the in-process CLI prints, to the last byte
        args = ["check", "--spec", V3, FIXTURES / "research_before", "-f", form, "--no-cache", "--lang", "en"]
        assert run(*args).stdout == invoke(*args).stdout, form
    assert run("check", "--spec", V3, FIXTURES / "research_after", "--no-cache").returncode == 0
    missing = run("check", "--spec", V3, tmp_path / "nope")
    assert missing.returncode == 2 and "does not exist" in missing.stderr
    assert run("check", "--no-such-option").returncode == 2
    assert run("--version").returncode == 0


def test_ctrl_c_inside_check_says_so_and_exits_130(monkeypatch, capsys):
    # typer turns a KeyboardInterrupt raised inside a command into a silent exit 130: the line must still come
    import sys

    import leveraudit.engine
    from leveraudit.cli import main

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(leveraudit.engine, "run_audit", interrupted)
    monkeypatch.setattr(sys, "argv", ["leveraudit", "check", str(FIXTURES / "research_before"), "--spec", str(V3)])
    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code == 130
    assert "leveraudit: interrupted" in capsys.readouterr().err
