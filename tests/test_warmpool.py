"""The warm worker pool (`leveraudit.warmpool`): forked before the CLI's imports, it must give the audit
the same results as a pool of its own, fail tasks instead of hanging when it dies, and leave no process
behind, whether the audit claimed it or not."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from concurrent.futures import as_completed
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path

import pytest

from leveraudit import warmpool

pytestmark = pytest.mark.skipif(not hasattr(os, "fork") or not Path("/proc").is_dir(),
                                reason="the warm pool forks; the leftover check reads /proc")

ROOT = Path(__file__).resolve().parent.parent
V3 = ROOT / "rules" / "v3.yaml"
FIXTURES = ROOT / "tests" / "fixtures"


def _living(*, group: int | None = None, session: int | None = None) -> list[int]:
    """Processes alive in a process group or session. Zombies do not count: a worker whose warm parent
    was killed is reaped by init, not by us."""
    left = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            state, _, pgrp, sid = stat.read_text().rsplit(")", 1)[1].split()[:4]
        except (OSError, ValueError):
            continue
        if state != "Z" and (int(pgrp) == group or int(sid) == session):
            left.append(int(stat.parent.name))
    return left


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _gone(pid: int) -> bool:
    """Nothing of the warm parent's group is left (it and its workers share one), within a few seconds."""
    deadline = time.monotonic() + 10
    while _living(group=pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return not _living(group=pid)


def _started() -> warmpool.WarmPool:
    pool = warmpool.WarmPool.fork()
    assert pool is not None
    return pool


def test_tasks_run_on_forked_workers_with_their_results_and_errors():
    pool = _started()
    assert pool.begin(2)
    squares = {pool.submit(pow, n, 2): n for n in range(40)}
    broken = pool.submit(int, "not a number")
    assert {future.result(timeout=60) for future in as_completed(squares, timeout=60)} == {n * n for n in range(40)}
    with pytest.raises(ValueError, match="not a number"):
        broken.result(timeout=60)
    worker_pids = {pool.submit(os.getpid).result(timeout=60) for _ in range(8)}
    assert os.getpid() not in worker_pids and pool._pid not in worker_pids   # workers, not the warm parent
    pool.shutdown(wait=True, cancel_futures=True)
    assert _gone(pool._pid)


def test_the_warm_group_holds_neither_the_clis_input_nor_its_report_stream():
    # `leveraudit check -f json | tool`: the tool must see the end of the report when the CLI exits, even
    # if the warm parent outlives it (the CLI killed), so it must not keep the CLI's stdout open
    pool = _started()
    try:
        deadline = time.monotonic() + 10
        streams = {}
        while time.monotonic() < deadline:
            streams = {fd: os.readlink(f"/proc/{pool._pid}/fd/{fd}") for fd in (0, 1)}
            if set(streams.values()) == {os.devnull}:
                break
            time.sleep(0.02)
        assert streams == {0: os.devnull, 1: os.devnull}
    finally:
        pool.kill()


def test_a_dead_warm_parent_fails_its_tasks_instead_of_hanging():
    pool = _started()
    assert pool.begin(2)
    assert pool.submit(pow, 2, 10).result(timeout=60) == 1024
    sleeping = pool.submit(time.sleep, 60)
    os.killpg(pool._pid, signal.SIGKILL)   # the warm parent and its workers, as an OOM kill might
    with pytest.raises(BrokenProcessPool):
        sleeping.result(timeout=30)
    with pytest.raises(BrokenProcessPool):
        pool.submit(pow, 2, 3)
    pool.shutdown(wait=True, cancel_futures=True)
    assert _gone(pool._pid)


def test_shutdown_after_an_error_stops_the_workers_at_once():
    # the engine shuts its pool down with cancel_futures=True on an error or an interrupt: nobody waits
    # for the tasks still running, so they must not keep the CLI (or the machine) busy
    pool = _started()
    assert pool.begin(2)
    workers = {pool.submit(os.getpid).result(timeout=60) for _ in range(8)}
    running = [pool.submit(time.sleep, 60) for _ in range(4)]
    time.sleep(0.5)
    started = time.monotonic()
    pool.shutdown(wait=True, cancel_futures=True)
    assert time.monotonic() - started < 10
    assert _gone(pool._pid)
    assert not [pid for pid in workers if _alive(pid)], "a worker outlived the pool"
    for future in running:
        with pytest.raises(BrokenProcessPool):
            future.result(timeout=10)


def test_an_unclaimed_warm_parent_is_killed_even_while_it_imports(monkeypatch):
    monkeypatch.setenv(warmpool.ENV_SWITCH, "1")
    monkeypatch.setattr(warmpool, "_usable_cores", lambda: 2)
    warmpool.start()
    pool = warmpool._started
    assert pool is not None
    warmpool.discard()
    assert warmpool._started is None and _gone(pool._pid)
    assert warmpool.claim(2) is None   # nothing left to claim: the engine starts a pool of its own


def test_the_switch_a_single_core_and_other_systems_start_nothing(monkeypatch):
    monkeypatch.setenv(warmpool.ENV_SWITCH, "0")
    warmpool.start()
    assert warmpool._started is None
    monkeypatch.setenv(warmpool.ENV_SWITCH, "1")
    monkeypatch.setattr(warmpool, "_usable_cores", lambda: 1)
    warmpool.start()
    assert warmpool._started is None
    monkeypatch.setattr(warmpool, "_usable_cores", lambda: 2)
    monkeypatch.setattr(warmpool.sys, "platform", "darwin")
    warmpool.start()
    assert warmpool._started is None


def _big_tree(tmp_path: Path) -> Path:
    """Enough files and lines that the audit parses on workers (engine.PARALLEL_MIN_*)."""
    source = (FIXTURES / "research_before").resolve()
    tree = tmp_path / "tree"
    for copy in range(6):
        for path in source.rglob("*.py"):
            target = tree / f"copy{copy}" / path.relative_to(source)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(path.read_text(encoding="utf-8") + "\n" * 400, encoding="utf-8")
    return tree


def test_the_audit_claims_the_warm_pool_and_reports_what_its_own_pool_would(tmp_path, monkeypatch):
    from leveraudit import engine
    from leveraudit.spec import load_spec

    tree = _big_tree(tmp_path)
    spec = load_spec(V3)
    own_report, own_stats = engine._run_audit(spec, tree, spec_path=str(V3), cache_dir=None, jobs=2, progress=None)
    assert own_stats.workers == 2

    claimed = []
    monkeypatch.setenv(warmpool.ENV_SWITCH, "1")
    monkeypatch.setattr(warmpool, "_usable_cores", lambda: 2)
    original = warmpool.WarmPool.begin
    monkeypatch.setattr(warmpool.WarmPool, "begin", lambda self, n: claimed.append(self._pid) or original(self, n))
    warmpool.start()
    warm_report, warm_stats = engine._run_audit(spec, tree, spec_path=str(V3), cache_dir=None, jobs=2, progress=None)
    assert len(claimed) == 1 and warmpool._started is None, "the audit did not use the warm pool"
    assert _gone(claimed[0])
    assert warm_stats.workers == 2 and warm_stats.parsed == own_stats.parsed
    assert warm_report.model_dump() == own_report.model_dump()


@pytest.mark.parametrize("claimed", [True, False], ids=["claimed", "never claimed"])
def test_the_cli_leaves_no_process_behind(tmp_path, claimed):
    # in a session of its own, so that whatever it forked can be found after it ended
    tree = _big_tree(tmp_path) if claimed else FIXTURES / "research_before"
    env = dict(os.environ, LEVERAUDIT_WARM_POOL="1", LEVERAUDIT_CACHE_DIR=str(tmp_path / "cache"))
    cli = subprocess.Popen([sys.executable, "-m", "leveraudit", "check", "--spec", str(V3), str(tree), "-f", "json",
                            "--jobs", "2", "--fail-on", "never", "-v"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, start_new_session=True, text=True)
    out, err = cli.communicate(timeout=300)
    assert cli.returncode == 0, err
    assert json.loads(out)["items"]
    # -v says where the files were parsed: the warm pool's workers, or (a small tree) this process
    assert ("on 2 worker processes from the warm pool" if claimed else "in this process") in err, err
    deadline = time.monotonic() + 10
    while _living(session=cli.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _living(session=cli.pid) == []


def test_ctrl_c_reaches_the_cli_alone_and_it_stops_the_warm_group(tmp_path):
    """A terminal's Ctrl-C signals the foreground process group: the CLI's. The warm parent and its
    workers are in a group of their own (a SIGINT each would print their tracebacks), and the CLI,
    interrupted, kills that group: nothing is left, and the exit status is 130."""
    tree = _big_tree(tmp_path)
    for copy in range(6, 30):   # long enough to be interrupted while the workers parse
        shutil.copytree(tree / "copy0", tree / f"copy{copy}")
    env = dict(os.environ, LEVERAUDIT_WARM_POOL="1", LEVERAUDIT_CACHE_DIR=str(tmp_path / "cache"))
    cli = subprocess.Popen([sys.executable, "-m", "leveraudit", "check", "--spec", str(V3), str(tree), "-f", "json",
                            "--jobs", "2"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                           start_new_session=True)
    deadline = time.monotonic() + 60
    while len(_living(session=cli.pid)) < 4 and time.monotonic() < deadline:   # the CLI, the warm parent, 2 workers
        time.sleep(0.02)
    assert len(_living(session=cli.pid)) >= 4, "the warm pool's workers never started"
    assert os.getpgid(cli.pid) == cli.pid and all(os.getpgid(pid) != cli.pid for pid in _living(session=cli.pid)
                                                  if pid != cli.pid)
    os.killpg(cli.pid, signal.SIGINT)   # what the terminal does: the CLI's group, not the warm one
    _, err = cli.communicate(timeout=60)
    assert cli.returncode == 130, err
    assert "leveraudit: interrupted" in err.decode()
    assert "Traceback" not in err.decode()   # neither the CLI's nor a worker's
    deadline = time.monotonic() + 10
    while _living(session=cli.pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _living(session=cli.pid) == []
