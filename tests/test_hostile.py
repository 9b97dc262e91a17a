"""Hostile or broken input: reported with positions, never a traceback, the rest still audited."""

from __future__ import annotations

import os
import shutil

import pytest
from typer.testing import CliRunner

from leveraudit.cli import app
from leveraudit.engine import run_audit
from leveraudit.spec import parse_spec
from tests.conftest import FIXTURES, V3, one_check_spec, run_check, statuses, write_tree

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
    assert reasons["latin1.py"].startswith("not valid utf-8")
    assert reasons["binary.py"].startswith("binary")
    assert reasons["huge.py"].startswith("larger than 1 MB")
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


def test_a_pep263_latin1_file_is_decoded_and_audited(tmp_path):
    root = write_tree(tmp_path / "tree", {"ok.py": "x = 1\n"})
    (root / "d.py").write_bytes("# -*- coding: latin-1 -*-\nclass DS:\n    def __init__(self, skip=False):\n"
                                "        self.name = 'café'\n".encode("latin-1"))
    report, _ = run_audit(parse_spec(one_check_spec({"kind": "param", "function": "DS.__init__", "name": "skip"})), root, jobs=1)
    assert report.items[0].status == "pass" and not report.diagnostics


def test_fifos_are_never_opened(tmp_path):
    import subprocess
    import sys

    root = write_tree(tmp_path / "tree", {"ok.py": "x = 1\n"})
    os.mkfifo(root / "x.py")
    done = subprocess.run([sys.executable, "-m", "leveraudit", "check", "--spec", str(V3), str(root), "-f", "json",
                           "--no-cache"], capture_output=True, text=True, timeout=60)
    import json
    reasons = {d["path"]: d["message"] for d in json.loads(done.stdout)["diagnostics"]}
    assert reasons["x.py"].startswith("not a regular file")


@pytest.mark.parametrize("source", ["x = " + "(" * 3000 + "1" + ")" * 3000 + "\n",
                                    "x = " + "f(" * 3000 + "1" + ")" * 3000 + "\n",
                                    "x = " + " + ".join(["1"] * 20000) + "\n"],
                         ids=["parentheses", "calls", "operator-chain"])
@pytest.mark.parametrize("command", ["check", "surface", "fix"])
def test_code_libcst_cannot_survive_is_a_diagnostic_not_a_crash(tmp_path, source, command):
    import subprocess
    import sys

    root = tmp_path / "tree"
    shutil.copytree(FIXTURES / "research_after", root)
    # the hostile file mentions what the spec looks for, so the pre-filter sends it to the parser
    (root / "lever_lm" / "evil.py").write_text("import argparse\n# RLBeamDatasetWithEmbedding add_argument "
                                               "load_state_dict sft_ckpt vqa_eval_mode\n" + source, encoding="utf-8")
    args = {"check": ["check", "--spec", str(V3), str(root), "-f", "json", "--no-cache"],
            "surface": ["surface", str(root), "--format", "json"],
            "fix": ["fix", str(root), "--spec", str(V3), "--diff"]}[command]
    done = subprocess.run([sys.executable, "-m", "leveraudit", *args], capture_output=True, text=True, timeout=120)
    assert done.returncode in (0, 1), (done.returncode, done.stderr[-1500:])
    assert "Traceback" not in done.stderr
    if command == "check":
        import json
        messages = [d["message"] for d in json.loads(done.stdout)["diagnostics"] if d["path"] == "lever_lm/evil.py"]
        assert messages and ("too deeply nested" in messages[0] or "too long" in messages[0])


def test_yaml_aliases_cannot_blow_up_a_spec(tmp_path):
    import subprocess
    import sys

    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for prev, name in zip("abcdefgh", "bcdefghi"):
        lines.append(f"{name}: &{name} [" + ",".join([f"*{prev}"] * 9) + "]")
    spec = tmp_path / "laughs.yaml"
    spec.write_text("\n".join(lines) + "\nversion: 1\n", encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "leveraudit", "check", "--spec", str(spec), str(tmp_path)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2 and "expands to more than" in done.stderr and "Traceback" not in done.stderr


def test_duplicate_yaml_keys_are_an_error(tmp_path):
    from leveraudit.spec import SpecError

    with pytest.raises(SpecError, match="duplicate key 'version'"):
        parse_spec("version: 1\nversion: 2\n")


def test_an_internal_error_exits_3_in_one_line(tmp_path, monkeypatch):
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", "import sys, leveraudit.engine as e\n"
                           "e.run_audit = lambda *a, **k: 1 / 0\n"
                           "from leveraudit.cli import main\nsys.argv = ['leveraudit', 'check', '--spec', sys.argv[1], sys.argv[2]]\nmain()",
                           str(V3), str(FIXTURES / "research_after")], capture_output=True, text=True, timeout=60)
    assert done.returncode == 3 and "internal error: ZeroDivisionError" in done.stderr and "Traceback" not in done.stderr


def test_deeply_nested_code_does_not_crash(tmp_path):
    deep = "x = " + "(" * 200 + "1" + ")" * 200 + "\n"
    result = run_check(tmp_path, {"kind": "assigns_key", "key": "mode"}, {"d.py": deep + "c = {}\nc['mode'] = 'file'\n"})
    assert result.status in {"pass", "error"}


def test_an_include_that_matches_nothing_is_an_error(tmp_path):
    root = write_tree(tmp_path / "tree", {"notes.txt": "nothing to audit\n"})
    result = runner.invoke(app, ["check", "--spec", str(V3), str(root), "--no-cache"])
    assert result.exit_code == 2 and "matches the spec's include globs" in result.output
