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


# -- safety: unbound names, pre-flight, atomic writes, kills ---------------------------------------------
def test_a_fix_that_would_read_an_unbound_name_is_listed_unsafe_and_not_applied(tmp_path, v3_spec):
    root = tmp_path / "tree"
    shutil.copytree(FIXTURES / "research_before", root)
    generator = root / "lever_lm/models/v3/generate_rl_data.py"
    # the 3.3.1 template writes `... if used_file_metric else ...`: here that flag is called otherwise
    generator.write_text(generator.read_text(encoding="utf-8").replace("used_file_metric", "file_metric_used"),
                         encoding="utf-8")
    before = generator.read_text(encoding="utf-8")
    report, _ = run_audit(v3_spec, root, jobs=1)
    result = apply_fixes(v3_spec, root, report)
    unsafe = dict(result.unfixable)["3.3.1/eval-mode-field"]
    assert unsafe.startswith("unsafe, not applied:") and "`used_file_metric`" in unsafe
    assert "generate_rl_data.py:" in unsafe
    assert "3.3.1/eval-mode-field" not in result.fixed and "3.3.2/filter" in result.fixed
    assert "vqa_eval_mode" not in generator.read_text(encoding="utf-8").replace(before, "")


def test_bound_names_are_judged_at_the_insertion_point():
    from leveraudit.extract.module import parse_module
    from leveraudit.fix import UnsafeFix, require_bound

    module = parse_module("m.py", "import os\nLIMIT = 3\n\ndef f(a):\n    first = 1\n    record = {}\n"
                                  "    late = 2\n    return record\n")
    function = module.find_defs(["f"])[0]
    record_line = function.body.body[1]
    require_bound(module, record_line, "record['k'] = a + first + LIMIT + len(os.sep)", after=True)
    with __import__("pytest").raises(UnsafeFix, match="`late`"):
        require_bound(module, record_line, "record['k'] = late", after=True)
    with __import__("pytest").raises(UnsafeFix, match="`record`"):
        require_bound(module, record_line, "record['k'] = 1")  # before the statement that binds it
    require_bound(module, record_line, "[x for x in range(a)]")  # the template's own names are bound


def test_preflight_refuses_everything_when_one_target_changed_after_it_was_read(tmp_path, v3_spec, monkeypatch):
    import leveraudit.fix as fix_module
    from leveraudit.fix import FixError

    root = tmp_path / "tree"
    shutil.copytree(FIXTURES / "research_before", root)
    originals = {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*.py")}
    report, _ = run_audit(v3_spec, root, jobs=1)
    real = fix_module._write_all

    def edit_then_write(root_, new_texts, originals_):
        target = root / sorted(new_texts)[-1]  # a concurrent edit of the last file, after it was read
        target.write_bytes(target.read_bytes() + b"# edited meanwhile\n")
        return real(root_, new_texts, originals_)

    monkeypatch.setattr(fix_module, "_write_all", edit_then_write)
    try:
        apply_fixes(v3_spec, root, report)
        raise AssertionError("the pre-flight should have refused")
    except FixError as exc:
        assert str(exc).startswith("nothing written:") and "changed since it was read" in str(exc)
    for rel, data in originals.items():
        now = (root / rel).read_bytes()
        assert now == data or now == data + b"# edited meanwhile\n", f"{rel} was written"


def test_a_failing_write_names_what_was_already_fixed_and_leaves_the_rest_whole(tmp_path, v3_spec, monkeypatch):
    import errno

    import leveraudit.atomic as atomic

    root = tmp_path / "tree"
    shutil.copytree(FIXTURES / "research_before", root)
    originals = {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*.py")}
    real, calls = atomic.write_atomically, []

    def full_disk_on_second(path, data, mode=None):
        calls.append(path)
        if len(calls) == 2:
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        return real(path, data, mode)

    monkeypatch.setattr(atomic, "write_atomically", full_disk_on_second)
    result = runner.invoke(app, ["fix", str(root), "--spec", str(V3)])
    assert result.exit_code == 2
    message = result.stderr.strip().splitlines()[-1]
    assert "No space left on device" in message and "already fixed: lever_lm/models/v3/dataset_v3.py" in message
    assert (root / "lever_lm/models/v3/dataset_v3.py").read_bytes() != originals["lever_lm/models/v3/dataset_v3.py"]
    for rel in ("lever_lm/models/v3/generate_rl_data.py", "lever_lm/workflows/grpo_post_train.py"):
        assert (root / rel).read_bytes() == originals[rel]
    assert not [p for p in root.rglob("*") if p.name.endswith(atomic.TEMP_SUFFIX)]


def test_fix_keeps_the_file_encoding_and_permission_bits(tmp_path):
    from leveraudit.spec import parse_spec
    from tests.conftest import one_check_spec

    root = tmp_path / "tree"
    root.mkdir()
    source = "# -*- coding: latin-1 -*-\n# café\nclass DS:\n    def __init__(self, data):\n        self.data = data\n"
    (root / "d.py").write_bytes(source.encode("latin-1"))
    (root / "d.py").chmod(0o751)
    spec = parse_spec(one_check_spec({"kind": "param", "function": "DS.__init__", "name": "skip",
                                      "autofix": {"template": "skip: bool = False"}}))
    report, _ = run_audit(spec, root, jobs=1)
    assert apply_fixes(spec, root, report).fixed == ["T/param#1"]
    data = (root / "d.py").read_bytes()
    assert "café".encode("latin-1") in data and b"skip: bool = False" in data
    assert (root / "d.py").stat().st_mode & 0o777 == 0o751


_KILLER = r"""
import os, signal, sys
import leveraudit.atomic as atomic

kill_at, events = int(sys.argv[1]), [0]

def step(real):
    def wrapped(*args, **kwargs):
        result = real(*args, **kwargs)
        events[0] += 1
        if events[0] == kill_at:
            os.kill(os.getpid(), signal.SIGKILL)
        return result
    return wrapped

class Stream:  # the temporary file: a kill may land right after the bytes were handed to it
    def __init__(self, real):
        self.real = real
        self.write = step(real.write)
    def __getattr__(self, name):
        return getattr(self.real, name)
    def __enter__(self):
        return self
    def __exit__(self, *exc):
        return self.real.__exit__(*exc)

class OS:
    def __getattr__(self, name):
        return getattr(os, name)

proxy = OS()
proxy.fsync, proxy.replace, proxy.chmod = step(os.fsync), step(os.replace), step(os.chmod)
proxy.fdopen = lambda *a, **k: Stream(os.fdopen(*a, **k))
atomic.os = proxy
sys.argv = ["leveraudit", "fix", sys.argv[2], "--spec", sys.argv[3]]
try:
    from leveraudit.cli import main
    main()
finally:
    print("EVENTS", events[0], file=sys.stderr)
"""


def test_fix_killed_at_any_step_of_its_write_phase_leaves_every_file_old_or_new(tmp_path):
    import subprocess
    import sys

    from leveraudit.atomic import TEMP_SUFFIX

    import yaml

    from tests.conftest import write_tree

    # two files, two codemods (a parameter and the keyword at its call sites): small, so that every kill
    # point is one quick subprocess
    pristine = write_tree(tmp_path / "pristine", {
        "d.py": "class DS:\n    def __init__(self, data):\n        self.data = data\n",
        "t.py": "import argparse\ndef main():\n    args = argparse.ArgumentParser().parse_args()\n    DS(1)\n"})
    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text(yaml.safe_dump({"version": 1, "title": "t", "lang": "en", "items": [
        {"id": "T", "title": "t", "priority": "high", "checks": [
            {"kind": "param", "function": "DS.__init__", "name": "skip",
             "autofix": {"template": "skip: bool = False"}},
            {"kind": "call_kwarg", "callee": "DS", "keyword": "skip", "autofix": {"value": "$ARGS.skip"}}]}]}))
    old = {p.relative_to(pristine).as_posix(): p.read_bytes() for p in pristine.rglob("*") if p.is_file()}

    def run(kill_at: int, root):
        return subprocess.run([sys.executable, "-c", _KILLER, str(kill_at), str(root), str(spec_path)],
                              capture_output=True, text=True, timeout=120)

    complete = tmp_path / "complete"
    shutil.copytree(pristine, complete)
    finished = run(0, complete)
    assert finished.returncode == 0, finished.stderr
    events = int(finished.stderr.rsplit("EVENTS", 1)[1])
    new = {rel: (complete / rel).read_bytes() for rel in old}
    changed = [rel for rel in old if new[rel] != old[rel]]
    assert len(changed) == 2 and events == 5 * len(changed), "write, fsync, chmod, rename, directory fsync per file"
    for kill_at in range(1, events + 1):
        root = tmp_path / f"kill{kill_at}"
        shutil.copytree(pristine, root)
        killed = run(kill_at, root)
        assert killed.returncode == -9, f"the kill at step {kill_at} did not fire: {killed.stderr[-300:]}"
        for rel in old:
            assert (root / rel).read_bytes() in (old[rel], new[rel]), f"{rel} half-written at step {kill_at}"
        strays = [p for p in root.rglob("*") if p.is_file() and p.relative_to(root).as_posix() not in old]
        assert all(p.name.endswith(TEMP_SUFFIX) for p in strays), strays
        again = run(0, root)  # the next fix completes the job and sweeps the stray temporaries
        assert again.returncode == 0, again.stderr
        assert {rel: (root / rel).read_bytes() for rel in old} == new
        assert not [p for p in root.rglob("*") if p.name.endswith(TEMP_SUFFIX)]


def test_fix_parses_only_files_holding_a_codemods_anchor(tmp_path, monkeypatch):
    import leveraudit.fix as fix_module
    from leveraudit.spec import parse_spec
    from tests.conftest import one_check_spec, write_tree

    files = {f"unrelated_{i}.py": f"def f{i}():\n    return {i}\n" for i in range(30)}
    files["d.py"] = "class DS:\n    def __init__(self, data):\n        self.data = data\n"
    root = write_tree(tmp_path / "tree", files)
    spec = parse_spec(one_check_spec({"kind": "param", "function": "DS.__init__", "name": "skip",
                                      "autofix": {"template": "skip: bool = False"}}))
    report, _ = run_audit(spec, root, jobs=1)
    parsed = []
    real = fix_module.parse_module
    monkeypatch.setattr(fix_module, "parse_module", lambda rel, text: (parsed.append(rel), real(rel, text))[1])
    result = apply_fixes(spec, root, report)
    assert result.fixed == ["T/param#1"] and parsed == ["d.py"]


def test_fix_parses_only_files_that_hold_its_anchor():
    """`fix`'s text pre-filter: a param codemod needs its class too (not any `__init__`), an assigns_key
    codemod the names and keys of its `after` statement (a `[` in it is no glob)."""
    from leveraudit.fix import _anchor_words
    from leveraudit.spec import load_spec

    words = {check_id: _anchor_words(check) for _, check_id, check in load_spec(V3).iter_checks() if check.autofix}
    assert words["3.3.2/param"] == [{"RLBeamDatasetWithEmbedding", "__init__"}]
    assert words["3.3.1/eval-mode-field"] == [{"vqa_acc_score"}]
    assert words["3.3.3/option"] == [{"rce_epochs"}, {"skip_fallback_reward"}]
