"""The hostile-input suite: specs, trees, baselines, CLI arguments, RL files, embeddings and checkpoints,
as an attacker or a careless user would write them. Each case asserts the exit code, a one-line message
naming the culprit (for exit 2), no traceback, no file outside the audited tree read, no sentinel run and
no input changed — see `tests/hostile_harness.py`."""

from __future__ import annotations

import json
import os
import shutil

import pytest

from tests.conftest import V3
from tests.hostile_harness import Harness, tree_digest, write_exploit_pickle


@pytest.fixture
def harness(tmp_path):
    return Harness(tmp_path)


def _leveraudit_main():
    from leveraudit.cli import main

    return main


def _leverplus_main():
    from leverplus.cli import main

    return main


# -- the sentinel tree: every command of both CLIs over code that would run if anything executed it ---------
@pytest.mark.parametrize("command", [
    ["check", "{tree}", "--spec", "{spec}", "--no-cache"],
    ["check", "{tree}", "--spec", "{spec}", "--cache-dir", "{base}/cache", "-f", "json"],
    ["check", "{tree}", "--spec", "{spec}", "--no-cache", "-f", "sarif", "-o", "{base}/r.sarif"],
    ["check", "{tree}", "--spec", "{spec}", "--no-cache", "--jobs", "2", "-f", "md"],
    ["surface", "{tree}"],
    ["surface", "{tree}", "-f", "json"],
    ["fix", "{tree}", "--spec", "{spec}", "--diff"],
    ["explain", "3.1", "--spec", "{spec}"],
    ["test", "{fixtures}", "--spec", "{spec}"],
], ids=["check", "check-cached-json", "check-sarif", "check-parallel-md", "surface", "surface-json", "fix-diff",
        "explain", "test"])
def test_nothing_in_an_audited_tree_is_ever_executed_or_read_outside_it(harness, command):
    tree = harness.tree()
    fixtures = harness.base / "fixtures"
    fixtures.mkdir()
    shutil.copytree(tree, fixtures / "case", symlinks=True)
    (fixtures / "case" / "expect.yaml").write_text("items: {'3.1': pass}\n", encoding="utf-8")
    before = tree_digest(tree)
    argv = ["leveraudit", *(part.format(tree=tree, spec=V3, base=harness.base, fixtures=fixtures) for part in command)]
    outcome = harness.run(_leveraudit_main(), argv)
    harness.assert_safe(outcome)
    assert outcome.code in (0, 1), outcome.stderr
    assert tree_digest(tree) == before, "the audited tree was changed"
    if command[0] == "check":  # the links to outside/ are reported, not followed
        text = outcome.stdout + (harness.base / "r.sarif").read_text() if "-o" in command else outcome.stdout
        assert "secret" not in text.replace("linked_secret", "").replace("linked_outside", "")


def test_fix_writes_only_inside_the_tree_and_runs_nothing(harness):
    tree = harness.tree()
    outside_before = tree_digest(harness.outside)
    outcome = harness.run(_leveraudit_main(), ["leveraudit", "fix", str(tree), "--spec", str(V3)])
    harness.assert_safe(outcome)
    assert outcome.code == 0
    assert tree_digest(harness.outside) == outside_before


# -- hostile specs: exit 2, one line naming the spec -----------------------------------------------------
LAUGHS = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(8))
SPEC_BODY = ("title: t\nitems:\n  - id: '1'\n    title: t\n    priority: high\n    checks:\n"
             "      - {kind: param, function: DS.__init__, name: skip}\n")
BAD_SPECS = {
    "billion-laughs": ("version: 1\n" + LAUGHS + SPEC_BODY, "alias"),
    "laughs-in-unused-key": ("version: 1\n" + LAUGHS.replace("a:", "zz:", 1) + SPEC_BODY, "s.yaml"),
    "deep-nesting": ("version: 1\nx: " + "[" * 5000 + "]" * 5000 + "\n" + SPEC_BODY, "s.yaml"),
    "python-tag": ("version: !!python/object/apply:eval ['1']\n" + SPEC_BODY, "s.yaml"),
    "python-name-tag": ("version: !!python/name:os.system\n" + SPEC_BODY, "s.yaml"),
    "recursive-alias": ("version: 1\nloop: &l [*l]\n" + SPEC_BODY, "s.yaml"),
    "duplicate-key": ("version: 1\nversion: 1\n" + SPEC_BODY, "duplicate key"),
    "version-2": ("version: 2\n" + SPEC_BODY, "version 2 is not supported"),
    "version-string": ("version: one\n" + SPEC_BODY, "version"),
    "merge-key": ("version: 1\nbase: &b {kind: param}\n" + SPEC_BODY.replace("{kind: param, function",
                                                                             "{<<: *b, function"), "s.yaml"),
    "bad-regex": ("version: 1\n" + SPEC_BODY.replace("{kind: param, function: DS.__init__, name: skip}",
                                                     "{kind: docs_mention, docs: ['*.md'], mentions: '(unclosed'}"),
                  "s.yaml"),
    "bad-pattern": ("version: 1\n" + SPEC_BODY.replace("{kind: param, function: DS.__init__, name: skip}",
                                                       "{kind: pattern, pattern: 'def ('}"), "pattern"),
    "bad-glob-range": ("version: 1\ninclude: ['[z-a].py']\n" + SPEC_BODY, "glob"),
    "bad-files-glob": ("version: 1\n" + SPEC_BODY.replace("name: skip}", "name: skip, files: ['x/[9-0]/*.py']}"),
                       "glob"),
    "root-is-a-list": ("- version: 1\n", "mapping"),
    "root-is-a-string": ("just text\n", "mapping"),
    "empty": ("", "s.yaml"),
    "binary": ("\x00\x01\x02version: 1", "s.yaml"),
    "items-a-string": ("version: 1\ntitle: t\nitems: x\n", "items"),
    "no-items": ("version: 1\ntitle: t\n", "items"),
    "unknown-kind": ("version: 1\n" + SPEC_BODY.replace("kind: param", "kind: parm"), "did you mean 'param'"),
    "typo-key": ("version: 1\n" + SPEC_BODY.replace("name: skip", "nmae: skip"), "did you mean 'name'"),
    "tab-indent": ("version: 1\ntitle: t\nitems:\n\t- id: 1\n", "s.yaml"),
    "unknown-program": ("version: 1\n" + SPEC_BODY.replace("priority: high", "priority: high\n    programs: [x]"),
                        "unknown program 'x'"),
    "waive-unknown": ("version: 1\nwaive: [{id: '9', reason: r}]\n" + SPEC_BODY, "unknown id '9'"),
    "waive-no-reason": ("version: 1\nwaive: [{id: '1'}]\n" + SPEC_BODY, "reason"),
    "duplicate-ids": ("version: 1\n" + SPEC_BODY + SPEC_BODY.split("items:\n")[1], "duplicate id"),
    "bad-lang": ("version: 1\nlang: fr\n" + SPEC_BODY, "lang"),
    "bad-priority": ("version: 1\n" + SPEC_BODY.replace("priority: high", "priority: urgent"), "priority"),
    "bad-level": ("version: 1\n" + SPEC_BODY.replace("name: skip}", "name: skip, level: maybe}"), "level"),
    "negative-min-count": ("version: 1\n" + SPEC_BODY.replace(
        "{kind: param, function: DS.__init__, name: skip}", "{kind: call_kwarg, callee: D, keyword: k, min_count: -1}"),
        "min_count"),
    "bad-help-regex": ("version: 1\n" + SPEC_BODY.replace(
        "{kind: param, function: DS.__init__, name: skip}", "{kind: cli_option, dest: lr, help_mentions: '[z-a]'}"),
        "s.yaml"),
    "invalid-utf8": (b"version: 1\ntitle: \xff\xfe\n".decode("latin-1"), "s.yaml"),
    "deep-mapping": ("version: 1\n" + "a:\n" + "".join(" " * i + "a:\n" for i in range(1, 300)) + SPEC_BODY,
                            "s.yaml"),
}


@pytest.mark.parametrize("name", sorted(BAD_SPECS))
def test_a_hostile_spec_is_refused_in_one_line(harness, name):
    text, culprit = BAD_SPECS[name]
    spec = harness.base / "s.yaml"
    spec.write_bytes(text.encode("latin-1") if name in ("invalid-utf8",) else text.encode("utf-8"))
    tree = harness.tree(sentinels=False)
    for command in (["check", str(tree), "--spec", str(spec), "--no-cache"], ["explain", "1", "--spec", str(spec)]):
        outcome = harness.run(_leveraudit_main(), ["leveraudit", *command])
        harness.assert_safe(outcome)
        assert outcome.code == 2, (name, outcome.stdout[-500:], outcome.stderr)
        assert len(outcome.stderr.strip().splitlines()) == 1, outcome.stderr
        assert culprit.lower() in outcome.message.lower(), outcome.message
        assert "s.yaml" in outcome.message


@pytest.mark.parametrize("name, make", [
    ("missing", lambda base: base / "nope.yaml"),
    ("directory", lambda base: base),
    ("fifo", lambda base: (os.mkfifo(base / "fifo.yaml"), base / "fifo.yaml")[1]),
    ("device", lambda base: "/dev/zero"),
])
def test_a_spec_that_is_no_regular_file_is_refused(harness, name, make):
    spec = make(harness.base)
    outcome = harness.run(_leveraudit_main(), ["leveraudit", "check", str(harness.tree(sentinels=False)), "--spec",
                                               str(spec), "--no-cache"])
    harness.assert_safe(outcome)
    assert outcome.code == 2 and len(outcome.stderr.strip().splitlines()) == 1, outcome.stderr
    assert str(spec) in outcome.message


# -- spec globs and program entries that point outside the tree ------------------------------------------
@pytest.mark.parametrize("extra", [
    "include: ['../outside/**', '**/*.py']\n",
    "include: ['/{outside}/**', '**/*.py']\n",
    "programs: {{p: {{entry: ['../outside/secret.py']}}}}\n",
    "exclude: ['../**']\n",
])
def test_spec_globs_never_reach_outside_the_tree(harness, extra):
    spec = harness.base / "s.yaml"
    spec.write_text("version: 1\n" + extra.format(outside=str(harness.outside).lstrip("/")) + SPEC_BODY,
                    encoding="utf-8")
    outcome = harness.run(_leveraudit_main(), ["leveraudit", "check", str(harness.tree()), "--spec", str(spec),
                                               "--no-cache", "-f", "json"])
    harness.assert_safe(outcome)
    assert outcome.code in (1, 2), outcome.stderr


# -- hostile baselines and report destinations ------------------------------------------------------------
BAD_BASELINES = {
    "not-json": b"{not json",
    "a-list": b"[1, 2, 3]",
    "items-a-string": b'{"items": "x"}',
    "items-of-numbers": b'{"items": [1, 2]}',
    "deep": b"[" * 100000 + b"]" * 100000,
    "binary": b"\x00\x01\xff",
    "empty": b"",
    "huge-number": b'{"items": [{"id": "1", "status": 1e999999}]}',
}


@pytest.mark.parametrize("name", sorted(BAD_BASELINES))
def test_a_hostile_baseline_is_refused_in_one_line(harness, name):
    baseline = harness.base / "base.json"
    baseline.write_bytes(BAD_BASELINES[name])
    outcome = harness.run(_leveraudit_main(), ["leveraudit", "check", str(harness.tree(sentinels=False)), "--spec",
                                               str(V3), "--no-cache", "--baseline", str(baseline)])
    harness.assert_safe(outcome)
    assert outcome.code == 2, outcome.stderr
    assert len(outcome.stderr.strip().splitlines()) == 1 and "base.json" in outcome.message


@pytest.mark.parametrize("name, argv, culprit", [
    ("missing-baseline", ["{tree}", "--baseline", "{base}/none.json"], "none.json"),
    ("directory-baseline", ["{tree}", "--baseline", "{base}"], "{base}"),
    ("output-in-missing-folder", ["{tree}", "-o", "{base}/no/such/r.json", "-f", "json"], "no/such/r.json"),
    ("output-is-a-directory", ["{tree}", "-o", "{base}", "-f", "json"], "{base}"),
    ("output-to-dev-full", ["{tree}", "-o", "/dev/full", "-f", "md"], "/dev/full"),
    ("missing-root", ["{base}/nothing"], "nothing"),
    ("root-is-a-file", ["{spec}"], "v3.yaml"),
    ("changed-since-outside-git", ["{tree}", "--changed-since", "HEAD~1"], "changed-since"),
])
def test_bad_check_arguments_exit_2_in_one_line(harness, name, argv, culprit):
    tree = harness.tree(sentinels=False)
    args = [a.format(base=harness.base, spec=V3, tree=tree) for a in argv]
    outcome = harness.run(_leveraudit_main(), ["leveraudit", "check", "--spec", str(V3), "--no-cache", *args])
    harness.assert_safe(outcome)
    assert outcome.code == 2, (outcome.stdout[-300:], outcome.stderr)
    assert len(outcome.stderr.strip().splitlines()) == 1, outcome.stderr
    assert culprit.format(base=harness.base) in outcome.message


# -- hostile trees: the audit goes on, every odd file is a diagnostic --------------------------------------
def _deep_parens(n):
    return "x = " + "(" * n + "1" + ")" * n + "\n"


def _nested_calls(n):
    return "x = " + "f(" * n + ")" * n + "\n"


def _deep_blocks(n):
    return "".join("    " * i + "if x:\n" for i in range(n)) + "    " * n + "pass\n"


HOSTILE_FILES = {
    "deep-parens": _deep_parens(1500).encode(),
    "nested-calls": _nested_calls(3000).encode(),
    "deep-blocks": _deep_blocks(120).encode(),
    "long-operator-chain": ("x = " + " + ".join(["a"] * 20000) + "\n").encode(),
    "deep-lists": ("x = " + "[" * 3000 + "]" * 3000 + "\n").encode(),
    "deep-lambda": ("f = " + "lambda: " * 2000 + "1\n").encode(),
    "huge-string": ("s = '" + "a" * 900_000 + "'\n").encode(),
    "over-the-cap": b"# load_state_dict\n" * 120_000,
    "latin1-no-cookie": "s = 'caf\xe9'  # load_state_dict\n".encode("latin-1"),
    "bogus-cookie": b"# -*- coding: no-such-codec -*-\nx = 1\n",
    "utf8-bom": b"\xef\xbb\xbfx = 1\n",
    "nul-bytes": b"x = 1\x00\n",
    "crlf": b"x = 1\r\ny = 2\r\n",
    "lone-cr": b"x = 1\ry = 2\r",
    "syntax-error": b"def load_sft_model(:\n    model.load_state_dict(sd, strict=False)\n",
    "only-comments": b"# load_state_dict\n" * 50,
    "empty": b"",
    "unicode-identifiers": "def 加载():\n    ε = 1\n".encode(),
    "surrogate-escape": b"s = '\xed\xa0\x80'\n",
    "tabs-and-spaces": b"if x:\n\tif y:\n        pass\n",
    "python2": b"print 'hello'\nexec 'x = 1'\n",
    "match-statement": b"match x:\n    case {'a': [1, *rest]} if rest:\n        pass\n",
    "walrus-and-fstrings": b"if (n := len(x)) > 1:\n    s = f'{n!r:>{width}}'\n",
    "huge-int-literal": ("x = " + "9" * 5000 + "\n").encode(),
    "many-functions": "".join(f"def f{i}(a=1):\n    return a\n" for i in range(3000)).encode(),
    "decorator-soup": b"@a(@b)\ndef f(): pass\n",
}


@pytest.mark.parametrize("name", sorted(HOSTILE_FILES))
@pytest.mark.parametrize("command", ["check", "surface", "fix-diff"])
def test_a_hostile_file_never_stops_the_audit(harness, name, command):
    tree = harness.tree(sentinels=False)
    (tree / "lever_lm" / f"hostile_{name.replace('-', '_')}.py").write_bytes(HOSTILE_FILES[name])
    argv = {"check": ["check", str(tree), "--spec", str(V3), "--no-cache", "-f", "json"],
            "surface": ["surface", str(tree), "-f", "json"],
            "fix-diff": ["fix", str(tree), "--spec", str(V3), "--diff"]}[command]
    outcome = harness.run(_leveraudit_main(), ["leveraudit", *argv])
    harness.assert_safe(outcome)
    assert outcome.code in (0, 1), (outcome.code, outcome.stderr[-500:])
    if command == "check":
        report = json.loads(outcome.stdout)
        assert report["summary"]["pass"] >= 7, "the rest of the tree is still audited"


def test_special_files_are_never_opened(harness):
    tree = harness.tree(sentinels=False)
    os.mkfifo(tree / "lever_lm" / "pipe.py")
    os.symlink("/dev/zero", tree / "lever_lm" / "zero.py")
    os.symlink(tree / "lever_lm", tree / "lever_lm" / "loop")
    os.symlink(harness.base / "missing", tree / "lever_lm" / "dangling.py")
    for argv in (["check", str(tree), "--spec", str(V3), "--no-cache", "-f", "json"], ["surface", str(tree)],
                 ["fix", str(tree), "--spec", str(V3), "--diff"]):
        outcome = harness.run(_leveraudit_main(), ["leveraudit", *argv])
        harness.assert_safe(outcome)
        assert outcome.code in (0, 1)
        opened = {os.path.basename(path) for event, path in outcome.touched if event == "open"}
        assert not opened & {"pipe.py", "zero.py", "dangling.py"}


def test_tree_configs_and_programs_are_read_only_as_regular_files_inside_the_tree(harness):
    # pyproject.toml, .gitignore and .git/index are read like sources: a FIFO cannot hang the run and a
    # link cannot reach outside; a `python -m` invocation resolves only to a file of the tree
    tree = harness.tree(sentinels=False)
    os.mkfifo(tree / "pyproject.toml")
    os.symlink(harness.outside / "secret.md", tree / "lever_lm" / ".gitignore")
    (tree / ".git").mkdir()
    os.symlink(harness.outside / "secret.py", tree / ".git" / "index")
    os.symlink(harness.outside / "secret.py", tree / "lever_lm" / "linked_secret.py")
    dotted = ".." + ".".join((harness.outside / "secret").parts[1:])   # //<outside>/secret.py
    (tree / "scripts" / "more.sh").write_text(f"python -m lever_lm.linked_secret --rce_epochs 3\n"
                                              f"python -m {dotted} --rce_epochs 4\n", encoding="utf-8")
    for argv in (["check", str(tree), "--spec", str(V3), "--no-cache", "-f", "json"], ["surface", str(tree)]):
        outcome = harness.run(_leveraudit_main(), ["leveraudit", *argv], limit_s=60)
        harness.assert_safe(outcome)
        assert outcome.code in (0, 1), (outcome.code, outcome.stderr[-500:])


@pytest.mark.parametrize("name, content", [
    ("gitignore-garbage", b"[\n[9-0]\n!\n\\\n" + b"z" * 10000 + b"\n"),
    ("gitignore-backtracking", b"a*" * 40 + b"b\n" + b"*a" * 3000 + b"\n"),
    ("gitignore-binary", b"\x00\xff\xfe"),
    ("git-index-garbage", None),
    ("git-index-huge-count", None),
])
def test_hostile_git_metadata_is_tolerated(harness, name, content):
    import struct

    tree = harness.tree(sentinels=False)
    if content is not None:
        (tree / ".gitignore").write_bytes(content)
    else:
        (tree / ".git").mkdir()
        data = b"DIRC" + struct.pack(">II", 2, 2**31 if "huge" in name else 3) + os.urandom(200)
        (tree / ".git" / "index").write_bytes(data)
    outcome = harness.run(_leveraudit_main(), ["leveraudit", "check", str(tree), "--spec", str(V3), "--no-cache"])
    harness.assert_safe(outcome)
    assert outcome.code in (0, 1), outcome.stderr


@pytest.mark.parametrize("name, text", [
    ("laughs-config", "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(8))),
    ("python-tag-config", "rce_epochs: !!python/object/apply:os.system ['true']\n"),
    ("deep-config", "x: " + "[" * 5000 + "]" * 5000 + "\n"),
    ("binary-config", "\x00\x01"),
    ("duplicate-keys-config", "rce_epochs: 1\nrce_epochs: 2\n"),
])
def test_hostile_config_files_are_diagnostics_for_the_surface_lint(harness, name, text):
    tree = harness.tree(sentinels=False)
    (tree / "configs").mkdir(exist_ok=True)
    (tree / "configs" / "train_config.yaml").write_text(text, encoding="utf-8")
    for argv in (["check", str(tree), "--spec", str(V3), "--no-cache", "-f", "json"], ["surface", str(tree)]):
        outcome = harness.run(_leveraudit_main(), ["leveraudit", *argv])
        harness.assert_safe(outcome)
        assert outcome.code in (0, 1), outcome.stderr


@pytest.mark.parametrize("name, text", [
    ("deep-lists", "".join("  " * i + "- x\n" for i in range(3000))),
    ("deep-quotes", ">" * 5000 + " python train.py --lr 1\n"),
    ("huge-fence", "```bash\n" + "python train.py --lr 1 \\\n" * 20000 + "```\n"),
    ("unclosed-fence", "```bash\npython train.py --nope\n"),
    ("binary-doc", "\x00\x01```"),
    ("html-soup", "<div>" * 10000),
    ("shell-bomb", "```bash\n:(){ :|:& };:\n$(rm -rf /)\n`touch x`\neval \"$(cat /etc/passwd)\"\n```\n"),
])
def test_hostile_docs_are_read_safely(harness, name, text):
    tree = harness.tree(sentinels=False)
    (tree / "docs").mkdir(exist_ok=True)
    (tree / "docs" / "guide.md").write_text(text, encoding="utf-8")
    (tree / "scripts" / "odd.sh").write_text(text, encoding="utf-8")
    outcome = harness.run(_leveraudit_main(), ["leveraudit", "check", str(tree), "--spec", str(V3), "--no-cache"])
    harness.assert_safe(outcome)
    assert outcome.code in (0, 1), outcome.stderr


# -- leverplus: data files, embeddings, checkpoints, options ------------------------------------------------
@pytest.fixture(scope="module")
def example_data(tmp_path_factory):
    from tests.hostile_harness import Harness as _H  # noqa: F401 - the audit hook is installed by the import
    from typer.testing import CliRunner

    from leverplus.cli import app

    directory = tmp_path_factory.mktemp("example")
    made = CliRunner().invoke(app, ["make-example-data", "--output-dir", str(directory), "--num-items", "60",
                                    "--num-queries", "16", "--pool-size", "8"])
    assert made.exit_code == 0, made.output
    return directory


def _rl_variant(example_data, edit) -> str:
    document = json.loads((example_data / "rl_data.json").read_text())
    first = next(k for k in document if k != "_meta")
    result = edit(document, first)
    return json.dumps(document) if result is None else result


BAD_RL = {
    "not-json": (lambda d, q: "{nope", "not JSON"),
    "a-list": (lambda d, q: "[1, 2]", "rl"),
    "deep": (lambda d, q: "[" * 100000 + "]" * 100000, "rl"),
    "true-in-pool": (lambda d, q: d[q]["candidate_pool"].__setitem__(0, True), "candidate_pool[0]"),
    "float-in-pointer": (lambda d, q: d[q]["pointer_candidates"][0]["pointer"].__setitem__(0, 1.0), "pointer"),
    "pointer-outside-pool": (lambda d, q: d[q]["pointer_candidates"][0]["pointer"].__setitem__(0, 10**6),
                             "not in candidate_pool"),
    "nan-score": (lambda d, q: "{" + f'"{q}": ' + json.dumps(d[q]).replace('"vqa_acc_score": ', '"vqa_acc_score": NaN, "x": ', 1) + "}",
                  "query"),
    "bad-eval-mode": (lambda d, q: d[q]["pointer_candidates"][0].__setitem__("vqa_eval_mode", "guess"), "vqa_eval_mode"),
    "correct-is-2": (lambda d, q: d[q]["pointer_candidates"][0].__setitem__("vqa_correct", 2), "vqa_correct"),
    "query-key-not-int": (lambda d, q: d.__setitem__("seven", d.pop(q)), "seven"),
    "meta-a-list": (lambda d, q: d.__setitem__("_meta", [1]), "_meta"),
    "repeated-pool-item": (lambda d, q: d[q]["candidate_pool"].__setitem__(1, d[q]["candidate_pool"][0]), "repeats"),
    "extra-key": (lambda d, q: d[q].__setitem__("surprise", 1), "surprise"),
    "empty-object": (lambda d, q: "{}", "rl"),
    "binary": (lambda d, q: "\x00\x01", "rl"),
}


@pytest.mark.parametrize("name", sorted(BAD_RL))
def test_hostile_rl_data_is_refused_in_one_line(harness, example_data, name):
    edit, culprit = BAD_RL[name]
    bad = harness.base / "rl.json"
    bad.write_text(_rl_variant(example_data, edit), encoding="utf-8")
    outcome = harness.run(_leverplus_main(), ["leverplus", "train", "--rl-data", str(bad), "--embeddings",
                                              str(example_data / "embeddings.pt"), "--output-dir",
                                              str(harness.base / "run"), "--rce-epochs", "1"])
    harness.assert_safe(outcome)
    assert outcome.code == 2, (name, outcome.stderr[-500:])
    assert "rl.json" in outcome.message and culprit.lower() in outcome.message.lower(), outcome.message
    assert not list((harness.base / "run").glob("*.pt")) if (harness.base / "run").exists() else True


def _embeddings(kind, path, marker):
    import torch

    if kind == "exploit":
        write_exploit_pickle(path, marker)
    elif kind == "exploit-in-dict":
        write_exploit_pickle(path, marker, wrap=lambda e: {"embeddings": e})
    elif kind == "plain-pickle":
        import pickle

        from tests.hostile_harness import _Exploit

        path.write_bytes(pickle.dumps(_Exploit(marker)))
    else:
        tensor = {"int64": torch.zeros(60, 4, dtype=torch.int64), "bool": torch.zeros(60, 4, dtype=torch.bool),
                  "complex": torch.zeros(60, 4, dtype=torch.complex64), "1-d": torch.zeros(60),
                  "zero-width": torch.zeros(60, 0), "nan": torch.full((60, 4), float("nan")),
                  "3-d": torch.zeros(60, 4, 2), "string": "not a tensor"}[kind]
        torch.save(tensor, path)


@pytest.mark.parametrize("kind", ["exploit", "exploit-in-dict", "plain-pickle", "int64", "bool", "complex", "1-d",
                                  "zero-width", "nan", "3-d", "string"])
def test_hostile_embeddings_are_refused_in_one_line(harness, example_data, kind):
    bad = harness.base / "emb.pt"
    _embeddings(kind, bad, harness.marker)
    outcome = harness.run(_leverplus_main(), ["leverplus", "train", "--rl-data", str(example_data / "rl_data.json"),
                                              "--embeddings", str(bad), "--output-dir", str(harness.base / "run")])
    harness.assert_safe(outcome)
    assert outcome.code == 2, outcome.stderr[-500:]
    assert "emb.pt" in outcome.message


@pytest.mark.parametrize("where", ["train-sft", "train-resume", "generate-sft", "evaluate-sft", "evaluate-v3"])
def test_a_crafted_checkpoint_never_runs(harness, example_data, where):
    crafted = harness.base / "crafted.pt"
    write_exploit_pickle(crafted, harness.marker, wrap=lambda e: {"format": "x", "model": e})
    run_dir = harness.base / "run"
    train = ["train", "--rl-data", str(example_data / "rl_data.json"), "--embeddings",
             str(example_data / "embeddings.pt"), "--output-dir", str(run_dir), "--rce-epochs", "1"]
    if where == "train-resume":
        run_dir.mkdir()
        shutil.copy(crafted, run_dir / "rce_epoch1.pt")
    argv = {"train-sft": train + ["--sft-ckpt", str(crafted)],
            "train-resume": train + ["--resume"],
            "generate-sft": ["generate-rl-data", "--data-dir", str(example_data), "--output",
                             str(harness.base / "rl.json"), "--queries", "0:4", "--sft-ckpt", str(crafted)],
            "evaluate-sft": ["evaluate", "--data-dir", str(example_data), "--sft-ckpt", str(crafted),
                             "--output", str(harness.base / "e.json")],
            "evaluate-v3": ["evaluate", "--data-dir", str(example_data), "--v3-ckpt", str(crafted),
                            "--output", str(harness.base / "e.json")]}[where]
    outcome = harness.run(_leverplus_main(), ["leverplus", *argv])
    harness.assert_safe(outcome)
    assert outcome.code == 2, outcome.stderr[-500:]
    assert ".pt" in outcome.message and "not a loadable checkpoint" in outcome.message


LEVERPLUS_BAD_OPTIONS = {
    "queries-reversed": (["generate-rl-data", "--data-dir", "{data}", "--output", "{base}/r.json", "--queries", "10:5"], "--queries"),
    "queries-words": (["generate-rl-data", "--data-dir", "{data}", "--output", "{base}/r.json", "--queries", "a:b"], "--queries"),
    "queries-no-colon": (["generate-rl-data", "--data-dir", "{data}", "--output", "{base}/r.json", "--queries", "5"], "--queries"),
    "queries-negative": (["generate-rl-data", "--data-dir", "{data}", "--output", "{base}/r.json", "--queries", "-5:3"], "--queries"),
    "queries-beyond": (["generate-rl-data", "--data-dir", "{data}", "--output", "{base}/r.json", "--queries", "0:99999"], "--queries"),
    "shard-bad": (["generate-rl-data", "--data-dir", "{data}", "--output", "{base}/r.json", "--queries", "0:10", "--shard", "4/2"], "--shard"),
    "shard-words": (["generate-rl-data", "--data-dir", "{data}", "--output", "{base}/r.json", "--queries", "0:10", "--shard", "a/b"], "--shard"),
    "backend-unknown": (["generate-rl-data", "--data-dir", "{data}", "--output", "{base}/r.json", "--backend", "gpt"], "--backend"),
    "hf-missing-parts": (["generate-rl-data", "--output", "{base}/r.json", "--backend", "hf"], "--backend hf"),
    "no-data-dir": (["generate-rl-data", "--output", "{base}/r.json"], "--data-dir"),
    "data-dir-without-world": (["generate-rl-data", "--data-dir", "{base}", "--output", "{base}/r.json"], "world.json"),
    "eval-queries-beyond": (["evaluate", "--data-dir", "{data}", "--queries", "800:1300", "--output", "{base}/e.json"], "--queries"),
    "eval-shots-words": (["evaluate", "--data-dir", "{data}", "--shots", "1,x", "--output", "{base}/e.json"], "--shots"),
    "eval-shots-zero": (["evaluate", "--data-dir", "{data}", "--shots", "0", "--output", "{base}/e.json"], "--shots"),
    "eval-shots-too-many": (["evaluate", "--data-dir", "{data}", "--shots", "50", "--output", "{base}/e.json"], "--shots"),
    "eval-missing-ckpt": (["evaluate", "--data-dir", "{data}", "--v3-ckpt", "{base}/none.pt", "--output", "{base}/e.json"], "none.pt"),
    "eval-ckpt-directory": (["evaluate", "--data-dir", "{data}", "--sft-ckpt", "{base}", "--output", "{base}/e.json"], "directory"),
    "train-device-toaster": (["train", "--rl-data", "{data}/rl_data.json", "--embeddings", "{data}/embeddings.pt", "--output-dir", "{base}/run", "--device", "toaster"], "--device"),
    "train-nothing-to-do": (["train", "--rl-data", "{data}/rl_data.json", "--embeddings", "{data}/embeddings.pt", "--output-dir", "{base}/run", "--rce-epochs", "0"], "nothing to train"),
    "train-resume-empty": (["train", "--rl-data", "{data}/rl_data.json", "--embeddings", "{data}/embeddings.pt", "--output-dir", "{base}/run", "--resume"], "no checkpoint"),
    "train-resume-and-overwrite": (["train", "--rl-data", "{data}/rl_data.json", "--embeddings", "{data}/embeddings.pt", "--resume", "--overwrite"], "choose one"),
    "train-rl-directory": (["train", "--rl-data", "{data}", "--embeddings", "{data}/embeddings.pt"], "directory"),
    "train-missing-rl": (["train", "--rl-data", "{base}/none.json", "--embeddings", "{data}/embeddings.pt"], "none.json"),
    "train-missing-embeddings": (["train", "--rl-data", "{data}/rl_data.json", "--embeddings", "{base}/none.pt"], "none.pt"),
    "train-missing-sft": (["train", "--rl-data", "{data}/rl_data.json", "--embeddings", "{data}/embeddings.pt", "--output-dir", "{base}/run", "--sft-ckpt", "{base}/none.pt"], "none.pt"),
    "train-reward-mode": (["train", "--rl-data", "{data}/rl_data.json", "--embeddings", "{data}/embeddings.pt", "--reward-mode", "vibes"], "--reward-mode"),
    "train-output-is-a-file": (["train", "--rl-data", "{data}/rl_data.json", "--embeddings", "{data}/embeddings.pt", "--output-dir", "{data}/rl_data.json"], "rl_data.json"),
    "merge-directory": (["merge-rl-data", "{data}", "--output", "{base}/m.json"], "directory"),
    "merge-not-a-shard": (["merge-rl-data", "{data}/rl_data.json", "--output", "{base}/m.json"], "not a shard"),
    "merge-missing-file": (["merge-rl-data", "{base}/none.json", "--output", "{base}/m.json"], "none.json"),
    "sft-missing-beams": (["sft", "--beams", "{base}/none.json", "--embeddings", "{data}/embeddings.pt", "--output", "{base}/s.pt"], "none.json"),
    "sft-beams-are-rl-data": (["sft", "--beams", "{data}/rl_data.json", "--embeddings", "{data}/embeddings.pt", "--output", "{base}/s.pt"], "rl_data.json"),
    "example-data-too-many-queries": (["make-example-data", "--output-dir", "{base}/x", "--num-items", "10", "--num-queries", "20"], "num_queries"),
    "world-json-garbage": (["evaluate", "--data-dir", "{bad_world}", "--output", "{base}/e.json"], "world.json"),
    "world-json-unknown-field": (["evaluate", "--data-dir", "{odd_world}", "--output", "{base}/e.json"], "world.json"),
    "demo-too-many-queries": (["demo", "--output-dir", "{base}/d", "--num-items", "100", "--train-queries", "90", "--eval-queries", "20"], "num_items"),
}


@pytest.mark.parametrize("name", sorted(LEVERPLUS_BAD_OPTIONS))
def test_bad_leverplus_options_exit_2_in_one_line(harness, example_data, name):
    argv, culprit = LEVERPLUS_BAD_OPTIONS[name]
    bad_world, odd_world = harness.base / "bad_world", harness.base / "odd_world"
    bad_world.mkdir()
    (bad_world / "world.json").write_text("{nope", encoding="utf-8")
    odd_world.mkdir()
    (odd_world / "world.json").write_text(json.dumps({"num_items": 60, "evil": 1}), encoding="utf-8")
    before = tree_digest(example_data)
    args = [a.format(data=example_data, base=harness.base, bad_world=bad_world, odd_world=odd_world) for a in argv]
    outcome = harness.run(_leverplus_main(), ["leverplus", *args])
    harness.assert_safe(outcome)
    assert outcome.code == 2, (outcome.stdout[-300:], outcome.stderr[-500:])
    assert culprit.lower() in outcome.message.lower(), outcome.message
    assert tree_digest(example_data) == before, "an input was changed"
    assert not (harness.base / "r.json").exists() and not (harness.base / "r.json.partial.jsonl").exists()


@pytest.mark.parametrize("odd", ["fifo", "directory"])
def test_a_fixture_whose_expectations_are_no_regular_file_fails_in_one_line(harness, odd):
    fixtures = harness.base / "fixtures"
    shutil.copytree(harness.tree(sentinels=False), fixtures / "case", symlinks=True)
    expect = fixtures / "case" / "expect.yaml"
    expect.unlink()
    os.mkfifo(expect) if odd == "fifo" else expect.mkdir()
    outcome = harness.run(_leveraudit_main(), ["leveraudit", "test", str(fixtures), "--spec", str(V3)])
    harness.assert_safe(outcome)
    assert outcome.code == 1, (outcome.stdout, outcome.stderr)  # that fixture fails; the run does not hang
    assert "expectations" in outcome.stdout and "expect.yaml" in outcome.stdout


# -- hostile plans for `init --from-plan`: a draft that loads, or exit 2 in one line; never a crash -------
_SEED_LIKE = ("## 3. Changes\n\n### 3.1 Add a flag\n\n```python\nparser.add_argument('--x', type=int, default=1)\n```\n")
HOSTILE_PLANS = {
    "empty": ("", 2, "no numbered section"),
    "binary": ("\x00\x01\x02## 1. x\n", 2, "NUL"),
    "invalid-utf8": (b"## 1. add \xff\xfe\n".decode("latin-1"), 2, "UTF-8"),
    "huge": ("## 1. add `--x`\n\n" + "filler text\n" * 400_000, 2, "larger than"),
    "deeply-nested-list": (_SEED_LIKE + "".join("  " * i + "- add\n" for i in range(2000)), 0, ""),
    "deeply-nested-quotes": (_SEED_LIKE + ">" * 5000 + " deep\n" + "- " * 5000 + "x\n", 0, ""),
    "fence-never-closes": ("## 1. add\n\n```python\nparser.add_argument('--x', default=1)\n" + "y = (\n" * 50, 0, ""),
    "only-non-python-fences": ("## 1. add things\n\n```bash\nrm -rf /\n```\n\n```json\n{\"a\": 1}\n```\n", 2,
                               "no numbered section"),
    "brackets-libcst-cannot-survive": ("## 1. add\n\n```python\nx = " + "(" * 5000 + ")" * 5000 + "\n```\n"
                                       + _SEED_LIKE, 0, ""),
    "operator-chain": ("## 1. add\n\n```python\nx = " + " + ".join(["a"] * 20000) + "\n```\n" + _SEED_LIKE, 0, ""),
    "yaml-unprintable-and-breaks": ("## 3. Ch\x07anges\u2028\r\n\n### 3.1 Add\x1b[31m a flag\x85\n\n"
                                    "- use `--x\u2029`\ufeff\n\n```python\nparser.add_argument('--x\\x07', default=1)\n```\n",
                                    0, ""),
    "yaml-injection-in-headings": ("## 3. x\nversion: 2\n\n### 3.1 \"quoted\" `--x` 'a': [b] {c} # d &e *f !g\n\n"
                                   "```python\nparser.add_argument('--x', default='\\n  - kind: guard')\n```\n", 0, ""),
    "ten-thousand-items": ("".join(f"### {i}.{j} add `--o{i}_{j}`\n\nAdd `--o{i}_{j}`.\n\n"
                                   for i in range(100) for j in range(100)), 0, ""),
    "duplicate-numbers": (_SEED_LIKE * 3, 0, ""),
    "many-broken-blocks": ("".join(f"## {i}. add things\n\n```python\n" + "not python at all, just words\n" * 300 + "```\n\n"
                                   for i in range(1, 300)) + _SEED_LIKE.replace("## 3.", "## 300.").replace("3.1", "300.1"),
                           0, ""),
    "paths-out-of-the-tree": ("## 1. Fix `../outside/secret.py` and `/etc/passwd.py`\n\nLocation: "
                              "`../outside/secret.py → load`\n\n```python\n# ../outside/secret.py : Loader.load()\n"
                              "parser.add_argument('--x', default=1)\n```\n", 0, ""),
}


@pytest.mark.parametrize("name", sorted(HOSTILE_PLANS))
def test_a_hostile_plan_drafts_a_loadable_spec_or_is_refused_in_one_line(harness, name):
    from leveraudit.spec.load import parse_spec

    content, code, culprit = HOSTILE_PLANS[name]
    plan = harness.base / "plan.md"
    plan.write_bytes(content.encode("latin-1") if name == "invalid-utf8" else content.encode("utf-8"))
    out = harness.base / "draft.yaml"
    tree = harness.tree()
    outcome = harness.run(_leveraudit_main(), ["leveraudit", "init", "--from-plan", str(plan), "-o", str(out),
                                               "--check", str(tree)], limit_s=60)
    harness.assert_safe(outcome)
    if code == 2:
        assert outcome.code == 2 and len(outcome.stderr.strip().splitlines()) == 1, outcome.stderr
        assert culprit.lower() in outcome.message.lower() and "plan.md" in outcome.message, outcome.message
        assert not out.exists()
        return
    assert outcome.code in (0, 1), (outcome.code, outcome.stderr[-800:])    # the gate's verdict on the tree
    spec = parse_spec(out.read_text(encoding="utf-8"), str(out))             # the draft loads as written
    assert spec.items and "outside" not in json.dumps([p.entry for p in spec.programs.values()])


@pytest.mark.parametrize("name, make", [
    ("missing", lambda base: base / "nope.md"),
    ("directory", lambda base: base),
    ("fifo", lambda base: (os.mkfifo(base / "fifo.md"), base / "fifo.md")[1]),
    ("device", lambda base: "/dev/zero"),
])
def test_a_plan_that_is_no_regular_file_is_refused(harness, name, make):
    plan = make(harness.base)
    outcome = harness.run(_leveraudit_main(), ["leveraudit", "init", "--from-plan", str(plan)], limit_s=30)
    harness.assert_safe(outcome)
    assert outcome.code == 2 and len(outcome.stderr.strip().splitlines()) == 1, outcome.stderr
    assert str(plan) in outcome.message
