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
    report, stats = run_audit(v3_spec, root, jobs=1)
    assert report.summary.pass_ == 5, "ignored and excluded copies of passing code must not count"
    assert stats.ignored == 1 and stats.excluded >= 2, "what was left out is counted (check -v prints it)"


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


@pytest.mark.parametrize("quoted", ["# " + "(" * 500, "s = rb'" + "[" * 500 + "'", 'doc = f"""' + "{" * 300 + '"""',
                                    "# " + " + ".join(["1"] * 2000)], ids=["comment", "bytes", "fstring", "operators"])
def test_brackets_and_operators_in_comments_and_strings_are_not_code(quoted):
    from leveraudit.extract.module import too_complex

    assert too_complex("x = 1\n" + quoted + "\ny = (2)\n") is None
    assert too_complex("x = 1\n" + quoted + "\ny = " + "(" * 150 + "2" + ")" * 150 + "\n").startswith("too deeply")


def test_an_operator_chain_is_counted_per_statement_with_words_and_symbols():
    from leveraudit.extract.module import MAX_OPERATORS, too_complex

    def chain(count: int, sep: str) -> str:
        return sep.join(["a"] * (count + 1))

    assert too_complex("x = " + chain(MAX_OPERATORS, " and ") + "\n") is None
    assert too_complex("x = " + chain(MAX_OPERATORS + 1, " or ") + "\n").startswith("expression too long")
    assert too_complex("x = (" + chain(MAX_OPERATORS + 1, " -\n ") + ")\n").startswith("expression too long")
    statements = "".join(f"x{i} = a + b\n" for i in range(MAX_OPERATORS + 1))   # many statements, one each
    assert too_complex(statements) is None
    assert too_complex("x = " + chain(MAX_OPERATORS + 1, " andor ") + "\n") is None   # a name, not an operator


def test_the_shape_scan_finds_the_tokens_a_plain_scan_finds():
    # the scan's regex starts with a lookahead on its tokens' first characters; it must find exactly
    # what the regex without it finds, on every source of the fixtures
    import re

    from leveraudit.extract.module import _SHAPE, without_strings_and_comments

    plain = re.compile(r"[()\[\]{}\n]|[-+*/%|&^@]|\b(?:and|or)\b")
    sources = [p.read_text(encoding="utf-8") for p in sorted(FIXTURES.rglob("*.py"))]
    assert len(sources) > 10
    for source in sources + ["a andor b or c and(d)@e", "x = a|b^c&d%e//f**g", "or_ = and_ or o r and a"]:
        code = without_strings_and_comments(source)
        assert _SHAPE.findall(code) == plain.findall(code)


def _random_code(rng, length: int) -> str:
    # brackets of every kind (often unbalanced), newlines, operators, `and` / `or` and names that hold them
    pieces = ["(", ")", "[", "]", "{", "}", "\n", " + ", "-", " and ", " or ", "andor", "x", " ", "@"]
    return "".join(rng.choice(pieces) for _ in range(length))


def _random_balanced_code(rng, length: int) -> str:
    # the same, with every bracket closed (by a bracket of any kind: the scan does not pair kinds)
    out, open_ = [], 0
    for _ in range(length):
        roll = rng.random()
        if roll < 0.3:
            out.append(rng.choice("([{"))
            open_ += 1
        elif roll < 0.55 and open_:
            out.append(rng.choice(")]}"))
            open_ -= 1
        else:
            out.append(rng.choice(["\n", " + ", " and ", " or ", "andor", "x", " ", "-"]))
    return "".join(out) + ")" * open_


def test_the_quick_proof_of_a_fine_shape_never_overrules_the_exact_scan():
    # too_complex trusts `_clearly_fine` without scanning: it must only say so where the scan finds
    # nothing (and it must say so for ordinary code, or the scan runs on every file)
    import random

    from leveraudit.extract.module import (MAX_NESTING, MAX_OPERATORS, _clearly_fine, _shape_limits,
                                           without_strings_and_comments)

    rng = random.Random(11)
    samples = [_random_code(rng, rng.randint(0, 400)) for _ in range(2000)]
    samples += [_random_balanced_code(rng, rng.randint(0, 600)) for _ in range(2000)]
    samples += ["(" * depth + ")" * depth for depth in (MAX_NESTING - 1, MAX_NESTING, MAX_NESTING + 1)]
    samples += ["f(" * MAX_NESTING + ")" * MAX_NESTING + "\n" + "[" * (MAX_NESTING + 1) + "]" * (MAX_NESTING + 1),
                "x = a" + " + a" * MAX_OPERATORS, "x = a" + " + a" * (MAX_OPERATORS + 1), ")(" * 60, "(()" * 300]
    quick = 0
    for code in samples:
        if _clearly_fine(code):
            quick += 1
            assert _shape_limits(code) is None, code
    assert quick > 1000
    # text that is not ASCII takes the regex's way to the brackets: the same answers
    deep = "(" * (MAX_NESTING + 1) + "é" + ")" * (MAX_NESTING + 1)
    assert not _clearly_fine(deep) and _shape_limits(deep) is not None
    assert _clearly_fine("名前 = f(ü[1], {'ß': (2)})\n") and not _clearly_fine("ü = (\n")
    sources = [p.read_text(encoding="utf-8") for p in sorted(FIXTURES.rglob("*.py"))]
    assert all(_clearly_fine(without_strings_and_comments(source)) for source in sources if len(source) < 20_000)


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


# -- diagnostics instead of silent ❌ ----------------------------------------------------------------------
def test_an_undecodable_file_holding_what_a_check_needs_makes_it_undecided_not_failed(tmp_path):
    # no PEP 263 cookie, so the latin-1 byte is invalid utf-8: the file is skipped, but its bytes define DS
    files = {"other.py": "x = 1\n"}
    root = write_tree(tmp_path / "tree", files)
    (root / "d.py").write_bytes("class DS:\n    def __init__(self, skip=False):\n        self.n = 'caf\xe9'\n"
                                .encode("latin-1"))
    from leveraudit.spec import parse_spec
    from tests.conftest import one_check_spec

    spec = parse_spec(one_check_spec({"kind": "param", "function": "DS.__init__", "name": "skip"}))
    report, _ = run_audit(spec, root, jobs=1)
    check = report.items[0].checks[0]
    assert check.status == "error", "⛔ cannot be decided, not ❌"
    assert "d.py could not be analysed (not valid utf-8" in check.message["en"]
    assert [d.kind for d in report.diagnostics if d.path == "d.py"] == ["skipped"]
    # a skipped file that does not mention DS changes nothing
    (root / "d.py").write_bytes(b"s = '\xe9'\n")
    report, _ = run_audit(spec, root, jobs=1)
    assert report.items[0].checks[0].status == "fail"


def test_a_directory_that_cannot_be_listed_is_a_diagnostic(tmp_path, monkeypatch):
    from leveraudit.extract.discover import discover

    root = write_tree(tmp_path / "tree", {"a.py": "x = 1\n", "locked/b.py": "y = 2\n"})
    real = os.scandir

    def refuse(path="."):
        if str(path).endswith("locked"):
            raise PermissionError(13, "Permission denied", str(path))
        return real(path)

    monkeypatch.setattr(os, "scandir", refuse)  # a root-run CI cannot chmod a folder unreadable
    found = discover(root, ["**/*.py"], [])
    assert [f.rel for f in found.files] == ["a.py"]
    assert [(s.rel, s.reason) for s in found.skipped] == [("locked", "cannot list directory: Permission denied")]


def test_directories_nested_past_the_recursion_limit_are_walked(tmp_path):
    # 1,200 levels of one-letter folders: a recursive walk (os.walk before Python 3.12) dies of RecursionError
    import sys

    from leveraudit.extract.discover import discover

    depth = 1200
    assert depth > sys.getrecursionlimit()
    deep = tmp_path / "tree"
    deep.mkdir()
    for _ in range(depth):   # one level at a time: pathlib's own `mkdir(parents=True)` recurses
        deep = deep / "d"
        os.mkdir(deep)
    (deep / "bottom.py").write_text("x = 1\n", encoding="utf-8")
    (tmp_path / "tree" / "top.py").write_text("y = 2\n", encoding="utf-8")
    try:
        found = discover(tmp_path / "tree", ["**/*.py"], [])
    finally:   # taken down bottom up: shutil.rmtree (and so pytest's own clean-up) recurses too
        os.remove(deep / "bottom.py")
        while deep != tmp_path / "tree":
            os.rmdir(deep)
            deep = deep.parent
    assert [f.rel for f in found.files] == ["d/" * depth + "bottom.py", "top.py"]


@pytest.mark.parametrize("index_version", ["2", "3", "4"])
def test_a_tracked_file_that_gitignore_matches_is_still_audited(tmp_path, index_version):
    import subprocess

    from leveraudit.extract.discover import discover, tracked_paths

    root = write_tree(tmp_path / "repo", {"lever_lm/models/v3/dataset_v3.py": "x = 1\n", "lever_lm/util.py": "y = 1\n",
                                          "scratch/notes.py": "z = 1\n", "build/gen.py": "w = 1\n"})
    git = ["git", "-C", str(root), "-c", "user.email=t@t", "-c", "user.name=t"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "lever_lm", "build"], check=True)
    subprocess.run([*git, "update-index", "--index-version", index_version], check=True)
    (root / ".gitignore").write_text("lever_lm/\nbuild/\nscratch/\n", encoding="utf-8")
    tracked = set(subprocess.run([*git, "ls-files"], capture_output=True, text=True, check=True).stdout.split())
    assert tracked_paths(root) == tracked
    found = sorted(f.rel for f in discover(root, ["**/*.py"], []).files)
    assert found == ["build/gen.py", "lever_lm/models/v3/dataset_v3.py", "lever_lm/util.py"], \
        "tracked files are audited; the untracked ignored one is not"


def test_spec_format_version_2_and_typos_are_refused_clearly(tmp_path):
    spec = tmp_path / "s.yaml"
    body = "title: t\nitems:\n  - id: '1'\n    title: t\n    priority: high\n    checks:\n      - kind: cli_option\n"
    spec.write_text("version: 2\n" + body + "        dest: lr\n", encoding="utf-8")
    result = runner.invoke(app, ["check", "--spec", str(spec), str(FIXTURES / "research_after")])
    assert result.exit_code == 2
    assert "s.yaml:1: version: spec format version 2 is not supported (this leveraudit reads version 1)" in result.output
    spec.write_text("version: 1\n" + body + "        dset: lr\n", encoding="utf-8")
    result = runner.invoke(app, ["check", "--spec", str(spec), str(FIXTURES / "research_after")])
    assert result.exit_code == 2
    assert "s.yaml:9: items[0].checks[0].dset: unknown key; did you mean 'dest'?" in result.output


def test_a_suppression_naming_an_unknown_id_is_a_diagnostic(tmp_path):
    from leveraudit.spec import parse_spec
    from tests.conftest import one_check_spec

    root = write_tree(tmp_path / "tree", {"d.py": "class DS:\n    def __init__(self):  # leveraudit: ignore[T/parm] later\n"
                                                  "        pass\n"})
    spec = parse_spec(one_check_spec({"kind": "param", "function": "DS.__init__", "name": "skip"}))
    report, _ = run_audit(spec, root, jobs=1)
    unknown = [d for d in report.diagnostics if d.kind == "suppression-unknown-id"]
    assert len(unknown) == 1 and unknown[0].line == 2
    assert "ignore[T/parm] names no item or check" in unknown[0].message and "did you mean 'T/param#1'?" in unknown[0].message
    assert report.items[0].checks[0].status == "fail", "it suppressed nothing"


def test_a_file_over_the_time_budget_is_a_diagnostic_and_the_run_goes_on(tmp_path, monkeypatch):
    import leveraudit.scan as scan

    slow = "".join(f"def f{i}(a):\n    if a:\n        return a\n    return {i}\n" for i in range(4000))
    root = write_tree(tmp_path / "tree", {"slow.py": slow + "class DS:\n    def __init__(self, skip=False):\n        pass\n",
                                          "fast.py": "class DS:\n    def __init__(self, skip=False):\n        pass\n"})
    monkeypatch.setattr(scan, "FILE_TIME_BUDGET_S", 0.05)
    spec = parse_spec(one_check_spec({"kind": "param", "function": "DS.__init__", "name": "skip"}))
    report, _ = run_audit(spec, root, jobs=1)
    over = [d for d in report.diagnostics if d.kind == "over-budget"]
    assert [d.path for d in over] == ["slow.py"] and "longer than 0.05 s" in over[0].message
    assert report.items[0].checks[0].status == "pass", "fast.py still decides the check"
    import signal

    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0), "the timer is disarmed afterwards"
