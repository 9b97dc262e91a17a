"""Worker processes that are ready when the audit needs them: forked from a process that imported
libcst while the CLI was still starting.

A cold `leveraudit check` used to spend its first half second on one core: the CLI imports typer,
pydantic and the spec models, loads the spec and walks the tree, and only then starts the workers, which
each import libcst (0.2-0.3 s) before parsing anything, while the other core waited. Here the console
entry forks, before any of those imports, one *warm parent*: it imports libcst and `leveraudit.scan` (what
a worker runs; no pydantic: checks arrive as `leveraudit.records`) on the second core while the CLI
starts on the first, then waits. When the audit wants workers,
`claim(n)` asks it to fork n of them (a `ProcessPoolExecutor` in the warm parent), which inherit every
import: libcst is imported once instead of once per worker, and never on the CLI's critical path.

The warm parent only relays: the CLI pickles each task itself and the warm parent passes the bytes to a
worker and the worker's pickled result back, unread (it never unpickles what it relays, so it needs
none of the CLI's classes and never touches audited code beyond bytes). If the audit needs no workers
(a warm cache, a small tree, `-j 1`) the warm parent is killed at exit; if it dies, the tasks it held fail
with `BrokenProcessPool`, as a pool's do when a worker dies.
"""

from __future__ import annotations

import os
import pickle
import signal
import socket
import sys
import threading
from concurrent.futures import Future
from concurrent.futures.process import BrokenProcessPool
from multiprocessing.connection import Connection

# set to 0 to start workers only when the audit asks for them (as before this module existed)
ENV_SWITCH = "LEVERAUDIT_WARM_POOL"

_started: WarmPool | None = None   # forked by `start`, not yet claimed or discarded


def _usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        return os.cpu_count() or 1


def start() -> None:
    """Fork the warm parent, where that can pay: with two cores or more (on one core its imports would
    only delay the CLI's), on Linux (elsewhere a pool's workers start fresh interpreters, and macOS
    frameworks are not safe across fork); never twice."""
    global _started
    if _started is not None or os.environ.get(ENV_SWITCH, "1") == "0" or _usable_cores() < 2:
        return
    if not sys.platform.startswith("linux") or not hasattr(socket, "socketpair"):
        return
    _started = WarmPool.fork()


def claim(workers: int) -> WarmPool | None:
    """The started warm parent, now forking `workers` workers; None if none was started (the caller then
    starts a pool of its own)."""
    global _started
    pool, _started = _started, None
    if pool is not None and not pool.begin(workers):
        return None
    return pool


def discard() -> None:
    """Kill the warm parent if the audit never claimed it (called at exit)."""
    global _started
    pool, _started = _started, None
    if pool is not None:
        pool.kill()


def _run_task(payload: bytes) -> bytes:
    """In a worker: one task as the CLI pickled it, its result pickled again for the CLI."""
    function, args = pickle.loads(payload)
    return pickle.dumps(function(*args), protocol=pickle.HIGHEST_PROTOCOL)


def _warm_parent(conn: Connection) -> None:
    """The forked process's whole life; it leaves only through `os._exit` (never back into the CLI)."""
    status = 0
    try:
        # a process group of its own, shared with the workers it forks: Ctrl-C at a terminal reaches
        # only the CLI, which decides what an interrupt does, and `kill` stops the whole group at once
        # (a worker whose parent died would wait for tasks forever)
        os.setpgid(0, 0)
        # nothing here reads the CLI's input (a background group must not try) or writes the report: a
        # reader of the CLI's output (`leveraudit check | tool`) must see its end when the CLI exits, not
        # when this process does; stderr stays, for a worker's crash
        devnull = os.open(os.devnull, os.O_RDWR)
        os.dup2(devnull, 0)
        os.dup2(devnull, 1)
        os.close(devnull)
        try:
            import libcst  # noqa: F401 - what every worker needs first, and the slowest import
            import leveraudit.scan  # noqa: F401 - the scan and everything a task unpickles (no pydantic)
        except Exception:  # noqa: BLE001 - a worker imports what it needs itself then
            pass
        try:
            message = conn.recv()
        except (EOFError, OSError):   # never claimed: the CLI closed its end
            return
        workers = message[1]
        from concurrent.futures import ProcessPoolExecutor

        pool = ProcessPoolExecutor(max_workers=workers)   # forks at the first task: no thread here yet
        sending = threading.Lock()

        def reply(tag: int, future: Future) -> None:
            try:
                error = future.exception()
                answer = (tag, True, future.result()) if error is None else (tag, False, _portable(error))
                with sending:
                    conn.send(answer)
            except (OSError, ValueError):   # the CLI went away: nobody is waiting for this answer
                pass

        try:
            while True:
                try:
                    message = conn.recv()
                except (EOFError, OSError):
                    break
                if message[0] != "task":
                    break
                _, tag, payload = message
                pool.submit(_run_task, payload).add_done_callback(lambda future, tag=tag: reply(tag, future))
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
    except BaseException:  # noqa: BLE001 - whatever happened, the CLI sees this process's end
        status = 1
    finally:
        try:
            conn.close()
        finally:
            os._exit(status)


def _portable(error: BaseException) -> BaseException:
    """The exception itself if it pickles, else a RuntimeError that says what it was."""
    try:
        pickle.dumps(error)
        return error
    except Exception:  # noqa: BLE001
        return RuntimeError(f"{type(error).__name__}: {error}")


class WarmPool:
    """The CLI's side: `submit` and `shutdown` as a `ProcessPoolExecutor` has them (what the engine uses)."""

    def __init__(self, pid: int, conn: Connection) -> None:
        self._pid = pid
        self._conn = conn
        self._futures: dict[int, Future] = {}
        self._lock = threading.Lock()
        self._next_tag = 0
        self._reader: threading.Thread | None = None
        self._broken: BaseException | None = None

    @classmethod
    def fork(cls) -> WarmPool | None:
        ours, theirs = socket.socketpair()
        try:
            pid = os.fork()
        except OSError:
            ours.close()
            theirs.close()
            return None
        if pid == 0:
            ours.close()
            _warm_parent(Connection(theirs.detach()))   # never returns
        theirs.close()
        try:   # as the child does (whichever runs first): its group exists before `kill` may need it
            os.setpgid(pid, pid)
        except OSError:
            pass
        return cls(pid, Connection(ours.detach()))

    def begin(self, workers: int) -> bool:
        try:
            self._conn.send(("start", workers))
        except OSError:    # the warm parent is gone already
            self.kill()
            return False
        self._reader = threading.Thread(target=self._read, name="leveraudit-warm-pool", daemon=True)
        self._reader.start()
        return True

    def submit(self, function, *args) -> Future:
        future: Future = Future()
        payload = pickle.dumps((function, args), protocol=pickle.HIGHEST_PROTOCOL)
        with self._lock:
            if self._broken is not None:
                raise self._broken
            tag = self._next_tag
            self._next_tag += 1
            self._futures[tag] = future
        future.set_running_or_notify_cancel()
        try:
            self._conn.send(("task", tag, payload))
        except OSError:    # the reader fails this future with the others once it sees the end
            pass
        return future

    def _read(self) -> None:
        while True:
            try:
                tag, ok, answer = self._conn.recv()
            except (EOFError, OSError):
                break
            with self._lock:
                future = self._futures.pop(tag, None)
            if future is None:   # an answer nobody asked for: a protocol bug fails no other task
                continue
            if ok:
                try:
                    future.set_result(pickle.loads(answer))
                except Exception as exc:  # noqa: BLE001 - a result that does not unpickle fails its task
                    future.set_exception(exc)
            else:
                future.set_exception(answer)
        with self._lock:
            self._broken = BrokenProcessPool("the warm worker pool ended while tasks were running")
            left, self._futures = list(self._futures.values()), {}
        for future in left:
            future.set_exception(self._broken)

    def shutdown(self, wait: bool = True, cancel_futures: bool = False) -> None:
        """Tell the warm parent to finish (its workers complete what they hold) and wait for it; with
        `cancel_futures` as after an interrupt or an error, nobody waits for those answers: kill it."""
        if cancel_futures and self._futures:
            self.kill()
        else:
            try:
                self._conn.send(("stop",))
            except OSError:
                pass
        if wait and self._reader is not None:
            self._reader.join()
        self._conn.close()
        self._reap()

    def kill(self) -> None:
        """Stop the warm parent and its workers now (their group: see `_warm_parent`)."""
        for stop in (lambda: os.killpg(self._pid, signal.SIGKILL), lambda: os.kill(self._pid, signal.SIGKILL)):
            try:   # the group exists once the warm parent has made it; before that, the process alone
                stop()
            except (ProcessLookupError, PermissionError):
                pass
        try:
            self._conn.close()
        except OSError:
            pass
        self._reap()

    def _reap(self) -> None:
        try:
            os.waitpid(self._pid, 0)
        except ChildProcessError:
            pass


