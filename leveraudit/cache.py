"""Per-file scan results cached by (tool version, spec, file content), outside the audited tree."""

from __future__ import annotations

import functools
import hashlib
import json
import os
from pathlib import Path

from leveraudit import __version__


@functools.lru_cache(maxsize=1)
def analysis_version() -> str:
    """The tool version plus a digest of leveraudit's own sources: cached facts are only reused by
    the very code that computed them (a development checkout changes without a version bump)."""
    digest = hashlib.sha256(__version__.encode())
    package = Path(__file__).resolve().parent
    for source in sorted(package.rglob("*.py")):
        digest.update(source.relative_to(package).as_posix().encode())
        digest.update(source.read_bytes())
    return f"{__version__}+{digest.hexdigest()[:12]}"


def default_cache_dir() -> Path:
    base = os.environ.get("LEVERAUDIT_CACHE_DIR") or os.environ.get("XDG_CACHE_HOME")
    return Path(base) / ("" if os.environ.get("LEVERAUDIT_CACHE_DIR") else "leveraudit") if base else Path.home() / ".cache" / "leveraudit"


class FactCache:
    def __init__(self, directory: Path | None, spec_fingerprint: str) -> None:
        self.directory = directory
        self.prefix = hashlib.sha256(f"{analysis_version()}\0{spec_fingerprint}".encode()).hexdigest()[:16]
        self.hits = 0
        self.misses = 0
        self._folders: set[Path] = set()   # made (or found) in this run

    def _path(self, digest: str) -> Path:
        assert self.directory is not None
        return self.directory / self.prefix / digest[:2] / f"{digest}.json"

    def get(self, digest: str) -> dict | None:
        if self.directory is None:
            return None
        try:
            data = json.loads(self._path(digest).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            self.misses += 1
            return None
        self.hits += 1
        return data

    def put(self, digest: str, data: dict) -> None:
        """Write an entry atomically (a temporary file renamed over it): a reader sees it whole or not at
        all. The temporary file is named by this process's id (mkstemp's random names cost more than
        the write); each folder is made once per run."""
        if self.directory is None:
            return
        path = self._path(digest)
        temp = path.parent / f"{path.name}.{os.getpid()}.tmp"
        try:
            if path.parent not in self._folders:
                path.parent.mkdir(parents=True, exist_ok=True)
                self._folders.add(path.parent)
            # created anew, never through a link or into a file that exists (as mkstemp does)
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)
            try:
                handle = os.open(temp, flags, 0o600)
            except FileExistsError:   # left by a killed run of a process with the same id
                temp.unlink()
                handle = os.open(temp, flags, 0o600)
            with os.fdopen(handle, "w", encoding="utf-8") as stream:
                stream.write(json.dumps(data))   # one write: `json.dump` writes each fragment on its own
            os.replace(temp, path)
        except OSError:   # a read-only or full cache only costs speed
            try:
                temp.unlink()
            except OSError:
                pass
