"""Replaying an unchanged `check` (`leveraudit.replay`): an identical run is answered from the record
of the last one without the CLI's imports, and any change to what that run observed (a file's content,
a new or removed file, a link, the spec, `.gitignore`), to its command line or its environment makes
the next run a full one. The record must name every file and directory the audit looked at: an audit
hook lists what it really opened and listed."""

from __future__ import annotations

import json
import marshal
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from leveraudit import replay

ROOT = Path(__file__).resolve().parent.parent
V3 = ROOT / "rules" / "v3.yaml"
RESEARCH = ROOT / "tests" / "fixtures" / "research_before"


def _check(tree: Path, cache: Path, *args: str, replayed: bool = True, python: tuple = ()) -> tuple[int, str, str]:
    env = dict(os.environ, LEVERAUDIT_CACHE_DIR=str(cache), LEVERAUDIT_REPLAY="1" if replayed else "0")
    done = subprocess.run([sys.executable, *python, "-m", "leveraudit", "check", str(tree), "--spec",
                           str(tree / "rules" / "v3.yaml"), "-f", "json", *args],
                          capture_output=True, text=True, env=env, cwd=tree.parent, timeout=300)
    return done.returncode, done.stdout, done.stderr


def _tree(base: Path) -> Path:
    tree = base / "repo"
    shutil.copytree(RESEARCH, tree)
    (tree / "rules").mkdir()
    shutil.copy(V3, tree / "rules" / "v3.yaml")
    return tree


def _settle() -> None:
    """Files written within `RACY_NS` are not trusted to a record (an edit could keep their timestamp)."""
    time.sleep(replay.RACY_NS / 1e9 + 0.1)


def test_an_identical_run_is_replayed_without_the_clis_imports(tmp_path):
    tree, cache = _tree(tmp_path), tmp_path / "cache"
    _settle()
    first = _check(tree, cache)
    assert first[0] in (0, 1) and json.loads(first[1])["items"], first[2]
    assert len(list((cache / "replay").glob("*.marshal"))) == 1
    again = _check(tree, cache, python=("-X", "importtime"))   # same argv: the same key
    assert again[:2] == first[:2]
    imported = again[2]
    assert "leveraudit.replay" in imported
    assert "typer" not in imported and "libcst" not in imported, "the second run was not a replay"

    report = tmp_path / "report.json"
    written = _check(tree, cache, "-o", str(report))
    report.unlink()
    replayed = _check(tree, cache, "-o", str(report), python=("-X", "importtime"))
    assert "typer" not in replayed[2]
    assert replayed[0] == written[0] and report.read_text() == first[1]
    assert written[2].startswith(f"wrote {report} (")   # the one stderr line, replayed after the import times
    assert replayed[2].splitlines()[-1] == written[2].strip()


def _first_evidence_file(report: dict) -> str:
    return sorted(e["path"] for item in report["items"] for check in item["checks"] for e in check["evidence"])[0]


def _edit_in_place(tree: Path, report: dict) -> None:
    """Same size, mtime put back: only ctime tells (and the plan index's policy relies on it)."""
    path = tree / _first_evidence_file(report)
    before = path.stat()
    text = path.read_text()
    path.write_text(text.replace("def ", "de( ", 1))
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))
    assert path.stat().st_size == before.st_size


def _new_file(tree: Path, report: dict) -> None:
    evidence = tree / _first_evidence_file(report)   # a second copy: its evidence is reported too
    shutil.copy(evidence, evidence.with_name("added_copy.py"))


def _removed_file(tree: Path, report: dict) -> None:
    (tree / _first_evidence_file(report)).unlink()


def _file_became_a_link(tree: Path, report: dict) -> None:
    path = tree / _first_evidence_file(report)
    copy = path.with_name("elsewhere.txt")
    shutil.copy(path, copy)
    path.unlink()
    path.symlink_to(copy.name)


def _spec_edited(tree: Path, report: dict) -> None:
    spec = tree / "rules" / "v3.yaml"
    spec.write_text(spec.read_text().replace("代码一致性检查", "代码一致性检查（改）", 1))


def _ignored_by_git(tree: Path, report: dict) -> None:
    (tree / ".gitignore").write_text(_first_evidence_file(report) + "\n")


CHANGES = [_edit_in_place, _new_file, _removed_file, _file_became_a_link, _spec_edited, _ignored_by_git]


@pytest.fixture(scope="module")
def recorded_trees(tmp_path_factory):
    """One recorded tree per change, settled once (the wait is paid once, not per case)."""
    base = tmp_path_factory.mktemp("replayed")
    trees = {change.__name__: _tree(base / change.__name__) for change in CHANGES}
    _settle()
    return trees


@pytest.mark.parametrize("change", CHANGES, ids=lambda c: c.__name__.strip("_"))
def test_a_changed_input_is_never_answered_from_the_record(recorded_trees, change):
    tree = recorded_trees[change.__name__]
    cache = tree.parent / "cache"
    before = _check(tree, cache)
    assert list((cache / "replay").glob("*.marshal")), "the first run left no record"
    change(tree, json.loads(before[1]))
    after = _check(tree, cache)
    truth = _check(tree, cache, replayed=False)
    assert after[:2] == truth[:2]
    assert after[1] != before[1], "this change should change the report (else the case proves nothing)"


def test_the_key_holds_the_command_line_the_environment_and_the_directory(tmp_path, monkeypatch):
    argv = ["leveraudit", "check", "."]
    key = replay.run_key(argv)
    assert replay.run_key(argv + ["-f", "md"]) != key
    monkeypatch.setenv("NO_COLOR", "1")
    assert replay.run_key(argv) != key
    monkeypatch.delenv("NO_COLOR")
    monkeypatch.setenv("OLDPWD", "/somewhere/else")   # shell bookkeeping: not part of the key
    assert replay.run_key(argv) == key
    monkeypatch.chdir(tmp_path)
    assert replay.run_key(argv) != key


def test_a_run_that_may_not_be_recorded_is_not(monkeypatch):
    for argv in (["leveraudit", "check", ".", "--no-cache"], ["leveraudit", "check", "-v"],
                 ["leveraudit", "check", "--baseline=b.json"], ["leveraudit", "check", "--changed-since", "HEAD"],
                 ["leveraudit", "fix", "."]):
        assert not replay.enabled(argv), argv
    assert replay.enabled(["leveraudit", "check", "."])
    monkeypatch.setenv("LEVERAUDIT_REPLAY", "0")
    assert not replay.enabled(["leveraudit", "check", "."])


def test_inputs_that_changed_during_the_run_or_just_before_it_are_not_trusted(tmp_path):
    path = tmp_path / "f.py"
    path.write_text("x = 1\n")
    fresh = replay.Recorder([], "key")
    fresh.note("lstat", path, replay.signature(os.lstat(path)))   # changed a moment ago: racy
    assert not fresh.usable
    old = replay.signature(os.lstat(path))
    old[3] -= 10 * replay.RACY_NS      # as if it had been changed long ago
    changed = replay.Recorder([], "key")
    changed.note("lstat", path, old)
    assert changed.usable
    changed.note("lstat", path, old[:2] + [old[2] + 1] + old[3:])   # seen again, differently
    assert not changed.usable


def test_a_corrupt_or_foreign_record_is_a_miss(tmp_path, monkeypatch):
    monkeypatch.setenv("LEVERAUDIT_CACHE_DIR", str(tmp_path))
    argv = ["leveraudit", "check", str(tmp_path)]
    path = Path(replay._record_path(argv, replay.run_key(argv)))
    path.parent.mkdir(parents=True)
    valid = {"format": replay.FORMAT, "key": replay.run_key(argv), "seen": {}, "text": "report\n", "output": None,
             "stderr": "", "code": 0}
    path.write_bytes(marshal.dumps(valid))
    assert replay.lookup(argv) == valid
    for broken in (b"\x00not a record", marshal.dumps([valid]), marshal.dumps(dict(valid, key="other")),
                   marshal.dumps(dict(valid, format=0)),
                   marshal.dumps(dict(valid, seen={f"stat\0{tmp_path / 'gone'}": [1, 2, 3, 4, 5]})),
                   marshal.dumps(dict(valid, seen={"bogus\0/": 1}))):
        path.write_bytes(broken)
        assert replay.lookup(argv) is None, broken
    path.unlink()
    os.mkfifo(path)   # would block a plain open for ever
    assert replay.lookup(argv) is None
    path.unlink()
    (tmp_path / "elsewhere").write_bytes(marshal.dumps(valid))
    path.symlink_to(tmp_path / "elsewhere")   # a link is not followed
    assert replay.lookup(argv) is None


AUDIT_HOOK = """
import json, os, sys
opened, listed = set(), set()
def hook(event, args):
    if event == "open" and isinstance(args[0], (str, bytes, os.PathLike)):
        opened.add(os.path.abspath(os.fsdecode(args[0])))
    elif event in ("os.scandir", "os.listdir") and args and args[0] is not None and not isinstance(args[0], int):
        listed.add(os.path.abspath(os.fsdecode(args[0])))
sys.addaudithook(hook)
from leveraudit import replay
tree, spec = sys.argv[1], sys.argv[2]
sys.argv = ["leveraudit", "check", tree, "--spec", spec, "-f", "json", "-j", "1", "--no-cache"]
replay.start(sys.argv)
recorder = replay._recorder
from leveraudit.cli import main
try:
    main()
except SystemExit:
    pass
with open(tree + ".seen.json", "w") as out:
    json.dump({"opened": sorted(opened), "listed": sorted(listed), "seen": sorted(recorder.seen)}, out)
"""


def test_the_record_names_everything_the_audit_opened_or_listed(tmp_path):
    tree = _tree(tmp_path)
    (tree / "pyproject.toml").write_text('[project.scripts]\ntrain = "lever_lm.workflows.grpo_post_train:main"\n')
    (tree / ".gitignore").write_text("*.log\n")
    (tree / "notes.md").write_text("Run `bash scripts/train_v3.sh`.\n")
    spec = tree / "rules" / "v3.yaml"
    done = subprocess.run([sys.executable, "-c", AUDIT_HOOK, str(tree), str(spec)], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr
    found = json.loads(Path(f"{tree}.seen.json").read_text())
    seen = set(found["seen"])
    inside = str(tree) + os.sep
    opened = [p for p in found["opened"] if p.startswith(inside) or p == str(spec)]
    listed = [p for p in found["listed"] if p.startswith(inside) or p == str(tree)]
    assert len(opened) > 5 and len(listed) > 3, found   # the hook saw the audit's reads
    assert str(tree / "pyproject.toml") in opened and str(tree / ".gitignore") in opened
    assert [p for p in opened if f"lstat\0{p}" not in seen and f"stat\0{p}" not in seen] == []
    assert [p for p in listed if f"list\0{p}" not in seen] == []


def test_only_the_newest_records_are_kept(tmp_path, monkeypatch):
    monkeypatch.setenv("LEVERAUDIT_CACHE_DIR", str(tmp_path))
    for index in range(replay.KEEP + 3):
        argv = ["leveraudit", "check", f"tree{index}"]
        replay.start(argv)
        replay.store(cache_dir=str(tmp_path), text=f"report {index}\n", output=None, stderr="", code=0)
        for record in (tmp_path / "replay").glob("*.marshal"):   # one second apart (a clock tick could tie them)
            if marshal.loads(record.read_bytes())["text"] == f"report {index}\n":
                os.utime(record, (1_000_000 + index, 1_000_000 + index))
    kept = [marshal.loads(p.read_bytes())["text"] for p in (tmp_path / "replay").glob("*.marshal")]
    assert len(kept) == replay.KEEP
    assert "report 10\n" in kept and "report 0\n" not in kept and "report 2\n" not in kept


def test_a_verbose_run_is_not_recorded_however_its_flags_are_spelled(tmp_path, monkeypatch):
    # `-vj1` is `-v -j1` to click, which `enabled` (reading raw argv) does not see: the CLI itself refuses
    from leveraudit.cli import main

    monkeypatch.setenv("LEVERAUDIT_CACHE_DIR", str(tmp_path / "cache"))
    argv = ["leveraudit", "check", str(RESEARCH), "--spec", str(V3), "-f", "json", "-vj1", "--fail-on", "never"]
    monkeypatch.setattr(sys, "argv", argv)
    assert replay.enabled(argv)
    monkeypatch.setattr(replay, "_recorder", None)   # put back after the test: this run never hands it on
    replay.start(argv)
    with pytest.raises(SystemExit):
        main()
    assert not (tmp_path / "cache" / "replay").exists()
