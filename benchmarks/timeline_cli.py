"""Where the wall time of one cold `leveraudit check` goes: a timeline of the CLI and its workers.

A profile (benchmarks/profile_heavy.py) says what the CPU does; on 2 cores the wall time also depends on
when each process starts, waits and ends. This runs the CLI once in a fresh process, with an empty cache
and the heavy spec by default, and prints, from the moment the process is started: the CLI's imports
done, the warm parent's imports done (`leveraudit.warmpool`: it imports libcst and the engine on another
core while the CLI starts), the audit started (spec loaded), the workers claimed, each worker's first task
and last task done, the audit done and the process's end; then each worker's busy time.

    python benchmarks/timeline_cli.py                                   # the generated research-size tree
    python benchmarks/timeline_cli.py --no-warm-pool                    # workers started by the audit
    python benchmarks/timeline_cli.py --tree path/to/django --spec rules/v3.yaml
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from audit_research import build_tree  # noqa: E402
from audit_transformers import cli_env  # noqa: E402

# the CLI, run as `python -m leveraudit` runs it (`leveraudit.launch.run`, with its warm worker pool), with
# a meta-path hook that wraps the engine's and the scan's functions once each is imported, in whichever process
# imports it, to log `time.time()` stamps on stderr (one short write per line: lines from different
# processes do not interleave)
DRIVER = r"""
import functools, importlib.abc, os, sys, time
def log(what):
    os.write(2, f"@timeline {time.time():.6f} {os.getpid()} {what}\n".encode())
log("main: process started")
first = set()
def patch_scan(scan):
    scan_batch = scan.scan_batch
    @functools.wraps(scan_batch)
    def timed_scan_batch(jobs):
        if os.getpid() not in first:
            first.add(os.getpid())
            log("worker: first task")
        result = scan_batch(jobs)
        log("worker: task done")
        return result
    scan.scan_batch = timed_scan_batch
def patch_engine(engine):
    pool_class, run_audit = engine.ProcessPoolExecutor, engine._run_audit
    class Pool(pool_class):
        def __init__(self, *args, **kwargs):
            log("main: worker pool starts (a new one)")
            super().__init__(*args, **kwargs)
    def logged_run_audit(*args, **kwargs):
        log("main: audit starts (spec loaded)")
        try:
            return run_audit(*args, **kwargs)
        finally:
            log("main: audit done")
    claim = engine.warmpool.claim
    def logged_claim(workers):
        pool = claim(workers)
        if pool is not None:
            log("main: worker pool starts (the warm one)")
        return pool
    engine.ProcessPoolExecutor, engine._run_audit = Pool, logged_run_audit
    engine.warmpool.claim = logged_claim
class Hook(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name not in ("leveraudit.engine", "leveraudit.cli", "leveraudit.scan"):
            return None
        sys.meta_path.remove(self)
        try:
            spec = importlib.util.find_spec(name)
        finally:
            sys.meta_path.insert(0, self)
        execute = spec.loader.exec_module
        def exec_module(module):
            execute(module)
            who = "main" if os.getpid() == MAIN else "warm parent"
            log(f"{who}: {name} imported")
            if name == "leveraudit.engine":
                patch_engine(module)
            elif name == "leveraudit.scan":
                patch_scan(module)
        spec.loader.exec_module = exec_module
        return spec
import importlib.util
MAIN = os.getpid()
sys.meta_path.insert(0, Hook())
sys.argv = ["leveraudit"] + sys.argv[1:]
from leveraudit.launch import run
run()
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tree", type=Path, help="tree to audit (default: the generated research-size tree)")
    parser.add_argument("--spec", type=Path, default=HERE / "heavy" / "heavy.yaml")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--no-warm-pool", action="store_true",
                        help="start the workers when the audit asks for them (LEVERAUDIT_WARM_POOL=0)")
    args = parser.parse_args()
    tree = args.tree or build_tree(HERE / ".data" / "research-17k")
    cache = tempfile.mkdtemp(prefix="leveraudit-timeline-")
    command = [sys.executable, "-c", DRIVER, "check", str(tree), "--spec", str(args.spec), "-f", "json",
               "-o", str(Path(cache) / "report.json"), "--cache-dir", cache, "--fail-on", "never",
               "--jobs", str(args.jobs)]
    started = time.time()
    env = cli_env() | ({"LEVERAUDIT_WARM_POOL": "0"} if args.no_warm_pool else {})
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    ended = time.time()
    if done.returncode not in (0, 1):
        raise SystemExit(done.stderr)
    events = []
    for line in done.stderr.splitlines():
        if line.startswith("@timeline "):
            _, stamp, pid, what = line.split(" ", 3)
            events.append((float(stamp) - started, int(pid), what))
    events.sort()
    main_pid = next(pid for _, pid, what in events if what.startswith("main:"))
    warm_pid = next((pid for _, pid, what in events if what.startswith("warm parent:")), None)
    workers = sorted({pid for _, pid, what in events if what.startswith("worker:")}, key=lambda p: min(
        t for t, pid, _ in events if pid == p))
    names = {main_pid: "main", warm_pid: "warm"} | {pid: f"worker {n}" for n, pid in enumerate(workers, 1)}
    print(f"tree: {tree}  spec: {args.spec.name}  jobs: {args.jobs}  (seconds from the process's start)")
    for at, pid, what in events:
        if what == "worker: task done" and at != max(t for t, p, w in events if p == pid and w == what):
            continue   # a worker's tasks: only its last one is shown
        label = what.split(": ", 1)[1]
        print(f"{at:7.3f}  {names[pid]:9} {'last task done' if label == 'task done' else label}")
    print(f"{ended - started:7.3f}  (the process has ended)")
    pool_start = next((t for t, _, w in events if w.startswith("main: worker pool starts")), None)
    for pid in workers:
        mine = [t for t, p, _ in events if p == pid]
        tasks = sum(1 for _, p, w in events if p == pid and w == "worker: task done")
        print(f"{names[pid]}: {tasks} tasks, from {min(mine):.3f} to {max(mine):.3f} s")
    if pool_start is not None:
        print(f"the audit claimed its workers at {pool_start:.3f} s")


if __name__ == "__main__":
    main()
