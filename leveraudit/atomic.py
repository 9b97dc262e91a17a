"""Writes that are all or nothing: a reader (or a kill at any instant) sees the old file or the new one.

Every file leveraudit writes on the user's behalf — `fix` rewriting sources, `check -o` reports — goes
through `write_atomically`: the bytes go to a temporary file beside the target, are fsynced, take the
target's permission bits, and are renamed over it; then the directory is fsynced so that the rename
itself survives a crash. The temporary name is hidden and ends in `TEMP_SUFFIX`, so a kill between the
write and the rename leaves the target intact and at worst one stray temporary, which the next `fix`
of that file removes (`remove_stale_temporaries`).
"""

from __future__ import annotations

import os
import stat
import tempfile
from pathlib import Path

TEMP_SUFFIX = ".leveraudit-tmp"


def _temp_prefix(path: Path) -> str:
    return f".{path.name}."


def write_atomically(path: Path, data: bytes, mode: int | None = None) -> None:
    """Replace `path` by `data` atomically. `mode`: permission bits (default: the existing file's, else
    0o666 less the umask, as `open()` would give)."""
    path = Path(os.path.realpath(path)) if os.path.islink(path) else Path(path)  # replace the file, keep the link
    try:
        existing = os.stat(path)
    except FileNotFoundError:
        existing = None
    except OSError as exc:
        raise OSError(exc.errno, exc.strerror, str(path)) from exc
    if existing is not None and stat.S_ISDIR(existing.st_mode):
        raise IsADirectoryError(21, "Is a directory", str(path))
    if existing is not None and not stat.S_ISREG(existing.st_mode):
        # a device or FIFO (`-o /dev/stdout`): write into it; renaming over it would replace the device
        try:
            with open(path, "wb") as stream:
                stream.write(data)
        except OSError as exc:  # /dev/full: name the target, not nothing
            raise OSError(exc.errno, exc.strerror, str(path)) from exc
        return
    if mode is None:
        if existing is not None:
            mode = stat.S_IMODE(existing.st_mode)
        else:
            umask = os.umask(0)
            os.umask(umask)
            mode = 0o666 & ~umask
    try:
        handle, temp = tempfile.mkstemp(dir=path.parent, prefix=_temp_prefix(path), suffix=TEMP_SUFFIX)
    except OSError as exc:  # name the file the user asked for, not our temporary
        raise OSError(exc.errno, exc.strerror, str(path)) from exc
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temp, mode)
        os.replace(temp, path)
    except BaseException as exc:
        try:
            os.unlink(temp)
        except OSError:
            pass
        if isinstance(exc, OSError) and not isinstance(exc, InterruptedError):
            raise OSError(exc.errno, exc.strerror, str(path)) from exc
        raise
    _fsync_directory(path.parent)


def _fsync_directory(directory: Path) -> None:
    try:
        handle = os.open(directory, os.O_RDONLY)
    except OSError:
        return  # some platforms cannot open a directory; the rename is still atomic
    try:
        os.fsync(handle)
    except OSError:
        pass
    finally:
        os.close(handle)


def remove_stale_temporaries(path: Path) -> int:
    """Delete temporaries a killed earlier write of `path` left behind; how many there were."""
    removed = 0
    prefix = _temp_prefix(path)
    try:
        names = os.listdir(path.parent)
    except OSError:
        return 0
    for name in names:
        if not (name.startswith(prefix) and name.endswith(TEMP_SUFFIX)):
            continue
        candidate = path.parent / name
        try:
            if candidate.is_file() and not candidate.is_symlink():
                candidate.unlink()
                removed += 1
        except OSError:
            pass
    return removed
