"""Reading the files a user names (the spec, `--baseline`, a fixture's `expect.yaml`): only regular
files — a FIFO would block forever and `/dev/zero` never ends — and never more than a size cap, so a
hostile path costs one clear error, not a hang."""

from __future__ import annotations

from pathlib import Path

MAX_USER_FILE_BYTES = 16 * 1024 * 1024


class UserFileError(ValueError):
    pass


def read_user_file(path: Path, what: str, limit: int = MAX_USER_FILE_BYTES) -> str:
    """The UTF-8 text of `path`, or `UserFileError` with one line naming `what` and the path."""
    from leveraudit.extract.discover import NotRegular, read_regular

    path = Path(path)
    try:
        data = read_regular(path, limit, follow_links=True)  # the user named it: a link is theirs to give
    except FileNotFoundError:
        raise UserFileError(f"{what} {path} not found") from None
    except NotRegular as exc:
        if exc.errno == 21:
            raise UserFileError(f"{what} {path} is a directory, not a file") from None
        raise UserFileError(f"{what} {path} is not a regular file (a FIFO, socket or device is never read)") from None
    except OSError as exc:
        raise UserFileError(f"cannot read {what} {path}: {exc.strerror}") from None
    if len(data) > limit:
        raise UserFileError(f"{what} {path} is larger than {limit // (1024 * 1024)} MB")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise UserFileError(f"{what} {path} is not valid UTF-8 (byte {exc.start}, line {line})") from None
