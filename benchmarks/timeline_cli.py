"""Where the wall time of one cold `leveraudit check` goes: a timeline of the CLI and its workers.

A profile (benchmarks/profile_heavy.py) says what the CPU does; on 2 cores the wall time also depends on
when each process starts, waits and ends. This runs the CLI once in a fresh process, with an empty cache
and the heavy spec by default, and prints, from the moment the process is started: the CLI's imports
done, the audit started (spec loaded), the worker pool started, each worker's first file (and how long its
import of libcst took), its last file done, the audit done and the process's exit; then each worker's
busy time and the time the second core stood idle before the workers could parse.

    python benchmarks/timeline_cli.py                                   # the generated research-size tree
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

# the CLI, run as `python -m leveraudit` would, with the engine's pool and per-file job wrapped to log
# `time.time()` stamps on stderr (one short write per line: lines from workers do not interleave)
DRIVER = r"""
import os, sys, time
def log(what):
    os.write(2, f"@timeline {time.time():.6f} {os.getpid()} {what}\n".encode())
import leveraudit.cli as cli
log("main: leveraudit.cli imported")
from leveraudit import engine
scan_job, pool_class, run_audit = engine._scan_job, engine.ProcessPoolExecutor, engine._run_audit
first = set()
def timed_scan_job(job):
    if os.getpid() not in first:
        first.add(os.getpid())
        log("worker: first file")
        started = time.time()
        import libcst  # noqa: F401  (what the first file's parse would import)
        log(f"worker: libcst imported in {time.time() - started:.2f} s")
    result = scan_job(job)
    log("worker: file done")
    return result
class Pool(pool_class):
    def __init__(self, *args, **kwargs):
        log("main: worker pool starts")
        super().__init__(*args, **kwargs)
def logged_run_audit(*args, **kwargs):
    log("main: audit starts (spec loaded)")
    try:
        return run_audit(*args, **kwargs)
    finally:
        log("main: audit done")
engine._scan_job, engine.ProcessPoolExecutor, engine._run_audit = timed_scan_job, Pool, logged_run_audit
sys.argv = ["leveraudit"] + sys.argv[1:]
try:
    cli.main()
finally:
    log("main: exits")
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tree", type=Path, help="tree to audit (default: the generated research-size tree)")
    parser.add_argument("--spec", type=Path, default=HERE / "heavy" / "heavy.yaml")
    parser.add_argument("--jobs", type=int, default=2)
    args = parser.parse_args()
    tree = args.tree or build_tree(HERE / ".data" / "research-17k")
    cache = tempfile.mkdtemp(prefix="leveraudit-timeline-")
    command = [sys.executable, "-c", DRIVER, "check", str(tree), "--spec", str(args.spec), "-f", "json",
               "-o", str(Path(cache) / "report.json"), "--cache-dir", cache, "--fail-on", "never",
               "--jobs", str(args.jobs)]
    started = time.time()
    done = subprocess.run(command, capture_output=True, text=True, env=cli_env())
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
    workers = sorted({pid for _, pid, _ in events if pid != main_pid}, key=lambda p: min(
        t for t, pid, _ in events if pid == p))
    names = {main_pid: "main"} | {pid: f"worker {n}" for n, pid in enumerate(workers, 1)}
    print(f"tree: {tree}  spec: {args.spec.name}  jobs: {args.jobs}  (seconds from the process's start)")
    for at, pid, what in events:
        if what == "worker: file done" and at != max(t for t, p, w in events if p == pid and w == what):
            continue   # a worker's files: only its last one is shown
        label = what.split(": ", 1)[1]
        print(f"{at:7.3f}  {names[pid]:9} {'last file done' if label == 'file done' else label}")
    print(f"{ended - started:7.3f}  (the process has ended; interpreter teardown included)")
    pool_start = next((t for t, _, w in events if w == "main: worker pool starts"), None)
    for pid in workers:
        mine = [t for t, p, _ in events if p == pid]
        files = sum(1 for _, p, w in events if p == pid and w == "worker: file done")
        print(f"{names[pid]}: {files} files, from {min(mine):.3f} to {max(mine):.3f} s")
    if pool_start is not None:
        print(f"before the pool started, one core did everything for {pool_start:.3f} s")


if __name__ == "__main__":
    main()
