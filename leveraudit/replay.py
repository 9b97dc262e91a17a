"""An unchanged `check`, answered from its last run: the report bytes and exit status, replayed.

A warm audit already reads only the files whose metadata changed, but the CLI it runs in still imports
typer, pydantic, rich and the spec models (0.3 s) to print a report that cannot have changed. Like a
build system's up-to-date check, the console entry (`leveraudit.launch`) looks first for the record of
a run with the same command line, working directory, environment, terminals, interpreter, installed
packages and leveraudit sources (the *key*), and replays it when every *observation* that run made of
the file system still holds; it imports nothing of the CLI to do so.

The observations are recorded where leveraudit touches the audited tree, by the same functions that
validate them here (one definition, so recording and checking cannot drift apart):
- `lstat` / `stat`: every file read or examined (`read_regular`, discovery's `lstat`, `is_file`), as
  (type, size, mtime, ctime, inode), or the error that stopped it (a file that was missing stays missing);
- `list`: every directory discovery walked, as its sorted names and entry types (an added file is seen);
- `real`: every path resolved through links.
This is the plan index's policy (size, mtime, ctime, inode; ctime cannot be set by a user) extended to
the whole run. A run whose inputs changed while it ran, or whose files changed within `RACY_NS` of being
observed (a later edit could keep the same timestamp, as git's "racily clean" entries), is not recorded.
Only a plain run is recorded: not `--no-cache` (no cache at all), `--verbose` (it reports the work done),
`--baseline` or `--changed-since` (inputs outside the tree, and git); `LEVERAUDIT_REPLAY=0` turns it off.
Anything unexpected on the way (a corrupt record, an unreadable cache) is a miss, never an error. Records are
`marshal` data that only `store` writes, atomically, in the user's cache directory (as trusted as the fact
cache; nothing from the audited tree decides what a record holds but the report itself).
"""

from __future__ import annotations

import marshal
import os
import stat as statmod
import sys
import time

try:   # the hash module itself (0.3 ms): `hashlib` loads OpenSSL first (4 ms of a 30 ms replay)
    from _blake2 import blake2b as _digest
except ImportError:   # pragma: no cover - an interpreter built without it
    from hashlib import blake2b as _digest

FORMAT = 2   # 2: records in `marshal` (json's import, with `re`, cost a replay 13 ms)
RACY_NS = 2_000_000_000   # coarser than any file system's timestamps we meet (FAT: 2 s)
# shell bookkeeping that changes between two identical commands and that no renderer reads
_VOLATILE_ENV = {"_", "OLDPWD", "SHLVL", "PWD"}


# -- observations: each one a pure function of the file system, used to record and to validate ----------

def signature(result: os.stat_result) -> list[int]:
    return [statmod.S_IFMT(result.st_mode), result.st_size, result.st_mtime_ns, result.st_ctime_ns, result.st_ino]


def _observe_lstat(path: str):
    try:
        return signature(os.lstat(path))
    except OSError as exc:
        return f"error {exc.errno}"


def _observe_stat(path: str):
    try:
        return signature(os.stat(path))
    except OSError as exc:
        return f"error {exc.errno}"


def listing_signature(entries) -> str:
    """A directory's names and entry types (from the listing itself; a link also says whether it leads
    to a directory, which discovery asks), in name order."""
    digest = _digest()
    for entry in sorted(entries, key=lambda e: e.name):
        link = entry.is_symlink()
        if link:
            try:
                kind = "L/" if entry.is_dir() else "L"
            except OSError:
                kind = "L"
        else:
            kind = "d" if entry.is_dir(follow_symlinks=False) else "f" if entry.is_file(follow_symlinks=False) else "o"
        digest.update(f"{entry.name}\0{kind}\0".encode("utf-8", "surrogateescape"))
    return digest.hexdigest()


def _observe_list(path: str):
    try:
        with os.scandir(path) as listing:
            return listing_signature(listing)
    except OSError as exc:
        return f"error {exc.errno}"


def _observe_real(path: str):
    try:
        return os.path.realpath(path)
    except (OSError, RuntimeError, ValueError) as exc:
        return f"error {type(exc).__name__}"


OBSERVE = {"lstat": _observe_lstat, "stat": _observe_stat, "list": _observe_list, "real": _observe_real}


class Recorder:
    """What one run observed, keyed by (kind, absolute path)."""

    def __init__(self, argv: list[str], key: str) -> None:
        self.argv = list(argv)
        self.key = key   # taken as the run starts: the CLI's imports may set variables of their own
        self.seen: dict[str, object] = {}
        self.usable = True   # false once an input changed during the run, or changed too recently

    def note(self, kind: str, path, value) -> None:
        key = f"{kind}\0{os.path.abspath(path)}"
        if key in self.seen and self.seen[key] != value:
            self.usable = False   # observed twice, differently: it changed while we read it
        self.seen[key] = value
        if isinstance(value, list) and time.time_ns() - value[3] < RACY_NS:
            self.usable = False   # a later edit within the timestamp granularity could go unseen


_recorder: Recorder | None = None


def note(kind: str, path, value) -> None:
    """Record an observation the run made (a no-op unless this process records: the CLI's `check`)."""
    if _recorder is not None:
        _recorder.note(kind, path, value)


def note_stat(path, follow: bool, result: os.stat_result | None = None) -> None:
    """Record `path`'s stat or lstat signature, from `result` when the caller has it. Free when this
    process does not record: discovery calls it for every file of every run."""
    if _recorder is None:
        return
    kind = "stat" if follow else "lstat"
    _recorder.note(kind, path, signature(result) if result is not None else OBSERVE[kind](os.fspath(path)))


def is_regular_file(path) -> bool:
    """`Path.is_file()` (through links), recorded."""
    value = _observe_stat(os.fspath(path))
    note("stat", path, value)
    return isinstance(value, list) and value[0] == statmod.S_IFREG


def resolved(path) -> str:
    """`os.path.realpath(path)`, recorded."""
    value = _observe_real(os.fspath(path))
    note("real", path, value)
    return value


# -- the key, the record's place, lookup, replay and store ---------------------------------------------

def enabled(argv: list[str]) -> bool:
    return (len(argv) > 1 and argv[1] == "check" and os.environ.get("LEVERAUDIT_REPLAY", "1") != "0"
            and not any(a in ("--no-cache", "--verbose", "-v") or a.startswith(("--baseline", "--changed-since"))
                        for a in argv[2:]))


def _cache_dir(argv: list[str]) -> str:
    """Where the run's caches go, from the raw arguments (`--cache-dir D`, `--cache-dir=D`); the CLI
    records only when its parsed option agrees, so a misread here costs a miss, never a wrong answer."""
    for index, arg in enumerate(argv):
        if arg == "--cache-dir" and index + 1 < len(argv):
            return argv[index + 1]
        if arg.startswith("--cache-dir="):
            return arg.split("=", 1)[1]
    from leveraudit.cache import default_cache_dir

    return str(default_cache_dir())


def _terminal(fd: int):
    try:
        return [os.isatty(fd), list(os.get_terminal_size(fd)) if os.isatty(fd) else None]
    except OSError:
        return [False, None]


def _installed() -> str:
    """The names in the import path's package directories (`rich-14.1.0.dist-info`, ...): an upgrade
    of a package that renders the report changes them. Not the script's or working directory, which
    `python -m` puts on the path and whose listing the run itself may change (a report, a cache)."""
    digest = _digest()
    for entry in sys.path:
        if os.path.basename(entry) not in ("site-packages", "dist-packages"):
            continue
        try:
            names = sorted(os.listdir(entry or "."))
        except OSError:
            names = []
        digest.update(f"{entry}\0{len(names)}\0{chr(0).join(names)}\0".encode("utf-8", "surrogateescape"))
    return digest.hexdigest()


def _own_sources() -> list:
    """leveraudit's version and its sources' stat signatures (the replay's own policy; the fact cache's
    key, `analysis_version`, digests their bytes, which costs a replay 4 ms of its 50)."""
    from leveraudit import __version__

    package = os.path.dirname(os.path.abspath(__file__))
    found = []
    pending = [package]
    while pending:
        directory = pending.pop()
        with os.scandir(directory) as listing:
            for entry in listing:
                if entry.is_dir(follow_symlinks=False) and entry.name != "__pycache__":
                    pending.append(entry.path)
                elif entry.name.endswith(".py"):
                    found.append([entry.path] + signature(entry.stat(follow_symlinks=False)))
    return [__version__, sorted(found)]


def run_key(argv: list[str]) -> str:
    environment = sorted((k, v) for k, v in os.environ.items() if k not in _VOLATILE_ENV)
    parts = [FORMAT, _own_sources(), sys.version, sys.executable, argv[1:], os.getcwd(), environment,
             [_terminal(fd) for fd in (0, 1, 2)], _installed()]
    return _digest(repr(parts).encode("utf-8", "surrogatepass")).hexdigest()


def _record_path(argv: list[str], key: str) -> str:
    return os.path.join(_cache_dir(argv), "replay", f"{key[:32]}.marshal")


def lookup(argv: list[str]) -> dict | None:
    """The record of an identical earlier run whose observations all still hold, else None."""
    try:
        key = run_key(argv)
        # only a regular file, never through a link, never blocking: a cache directory inside an audited
        # tree (`--cache-dir .cache`) could hold a FIFO or a link by that name
        flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOFOLLOW", 0)
        handle = os.open(_record_path(argv, key), flags)
        with os.fdopen(handle, "rb") as stream:
            if not statmod.S_ISREG(os.fstat(handle).st_mode):
                return None
            record = marshal.load(stream)   # written by `store` below; data only (never run)
        if not isinstance(record, dict) or record.get("format") != FORMAT or record.get("key") != key:
            return None
        for observed, value in record["seen"].items():
            kind, path = observed.split("\0", 1)
            if OBSERVE[kind](path) != value:
                return None
        return record
    except Exception:  # noqa: BLE001 - a missing, corrupt or foreign record is a miss
        return None


def replay(record: dict) -> int:
    """Write what the recorded run wrote; its exit status."""
    if record.get("output") is not None:
        from pathlib import Path

        from leveraudit.atomic import write_atomically

        write_atomically(Path(record["output"]), record["text"].encode("utf-8"))
    try:
        if record.get("output") is None:
            sys.stdout.write(record["text"])
        sys.stderr.write(record["stderr"])
    except OSError:
        pass   # a reader that went away (`| head`): the status stays the run's own, as in a full run
    return int(record["code"])


def start(argv: list[str]) -> None:
    """Record this run's observations from now on (the console entry calls this on a miss)."""
    global _recorder
    _recorder = Recorder(argv, run_key(argv))


def recording() -> bool:
    return _recorder is not None


KEEP = 8   # records kept per cache directory (a resized terminal or another format is another key)


def _prune(directory: str) -> None:
    """Keep the KEEP - 1 newest records, making room for this run's (a report can be megabytes)."""
    records = []
    with os.scandir(directory) as listing:
        for entry in listing:
            try:
                records.append((entry.stat(follow_symlinks=False).st_mtime_ns, entry.path))
            except OSError:
                continue
    for _, path in sorted(records, reverse=True)[KEEP - 1:]:
        try:
            os.unlink(path)
        except OSError:
            pass


def store(*, cache_dir, text: str, output, stderr: str, code: int) -> None:
    """Keep this run's answer for the next identical one, if what it observed may be trusted."""
    global _recorder
    recorder, _recorder = _recorder, None
    if recorder is None or not recorder.usable or code not in (0, 1):
        return
    argv = recorder.argv
    if cache_dir is None or os.path.abspath(_cache_dir(argv)) != os.path.abspath(cache_dir):
        return
    try:
        import tempfile

        key = recorder.key
        record = {"format": FORMAT, "key": key, "seen": recorder.seen, "text": text,
                  "output": os.path.abspath(output) if output is not None else None, "stderr": stderr, "code": code}
        path = _record_path(argv, key)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        _prune(os.path.dirname(path))
        # a cache, as the fact cache: written whole and renamed (a reader never sees half), not fsynced
        handle, temp = tempfile.mkstemp(dir=os.path.dirname(path), suffix=".tmp")
        try:
            with os.fdopen(handle, "wb") as stream:
                marshal.dump(record, stream)
            os.replace(temp, path)
        except BaseException:
            os.unlink(temp)
            raise
    except (OSError, ValueError):
        pass
