"""The console script and `python -m leveraudit`: the CLI, started so that a cold audit's workers are
ready when it needs them, and ended without the interpreter's teardown.

Nothing heavy is imported here: `warmpool.start` forks before the CLI imports typer, pydantic and the
spec models, so that libcst's import runs on another core meanwhile (see `leveraudit.warmpool`).
"""

from __future__ import annotations

import os
import sys

# the subcommands that parse files on worker processes
_AUDITS = ("check", "fix")


def run() -> None:
    """`cli.main()`, then an exit without the interpreter's teardown (freeing every module and object
    one by one: 9% of a warm run), as mypy's fast exit does. Everything leveraudit writes is closed by
    then (reports and caches atomically, with `with`), the worker pool is shut down (an unclaimed warm
    one is killed here), and the standard streams are flushed here (a reader that went away,
    `leveraudit check | head`, leaves the exit status the run's own)."""
    from leveraudit import replay

    if replay.enabled(sys.argv):   # before any other import: a replay needs none (26 ms of a 60 ms run)
        record = replay.lookup(sys.argv)
        if record is not None and _replayed(record):
            return
        replay.start(sys.argv)
    from leveraudit import warmpool

    if len(sys.argv) > 1 and sys.argv[1] in _AUDITS:
        warmpool.start()
    try:
        from leveraudit.cli import main

        main()
        code = 0
    except SystemExit as exc:
        code = exc.code
    finally:
        warmpool.discard()
    _exit(code)


def _replayed(record: dict) -> bool:
    """Answer from an identical earlier run (`leveraudit.replay`); False when its report file cannot be
    written, so that the full run reports that as it would."""
    from leveraudit import replay

    try:
        code = replay.replay(record)
    except OSError:
        return False
    _exit(code)
    return True


def _exit(code) -> None:
    if code is not None and not isinstance(code, int):   # sys.exit("message"): printed, status 1
        sys.stderr.write(f"{code}\n")
        code = 1
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code or 0)
