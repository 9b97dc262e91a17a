"""Reading the files a user names (the spec, `--baseline`, a fixture's `expect.yaml`): only regular
files — a FIFO would block forever and `/dev/zero` never ends — and never more than a size cap, so a
hostile path costs one clear error, not a hang."""

from __future__ import annotations

import os
import stat
from pathlib import Path

MAX_USER_FILE_BYTES = 16 * 1024 * 1024


class UserFileError(ValueError):
    pass


def read_user_file(path: Path, what: str, limit: int = MAX_USER_FILE_BYTES) -> str:
    """The UTF-8 text of `path`, or `UserFileError` with one line naming `what` and the path."""
    path = Path(path)
    try:
        handle = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    except FileNotFoundError:
        raise UserFileError(f"{what} {path} not found") from None
    except OSError as exc:
        raise UserFileError(f"cannot read {what} {path}: {exc.strerror}") from None
    try:
        info = os.fstat(handle)
        if stat.S_ISDIR(info.st_mode):
            raise UserFileError(f"{what} {path} is a directory, not a file")
        if not stat.S_ISREG(info.st_mode):
            raise UserFileError(f"{what} {path} is not a regular file (a FIFO, socket or device is never read)")
        with os.fdopen(handle, "rb", closefd=False) as stream:
            data = stream.read(limit + 1)
    except OSError as exc:
        raise UserFileError(f"cannot read {what} {path}: {exc.strerror}") from None
    finally:
        os.close(handle)
    if len(data) > limit:
        raise UserFileError(f"{what} {path} is larger than {limit // (1024 * 1024)} MB")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise UserFileError(f"{what} {path} is not valid UTF-8 (byte {exc.start}, line {line})") from None
