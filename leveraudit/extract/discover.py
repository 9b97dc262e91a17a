"""Find the files of an audited tree: include/exclude globs, .gitignore, size caps, no symlinks."""

from __future__ import annotations

import fnmatch
import hashlib
import os
import re
import stat as statmod
from dataclasses import dataclass, field
from pathlib import Path

from leveraudit import replay

MAX_FILE_BYTES = 1024 * 1024  # libcst needs about 10 s for a 1 MB file; larger sources are generated data
ALWAYS_SKIPPED_DIRS = {".git", ".hg", ".svn", "__pycache__", ".mypy_cache", ".pytest_cache", ".ruff_cache"}


@dataclass(frozen=True)
class FileRef:
    """A discovered file, not read yet: warm runs skip reading files whose size and mtime are known."""

    path: Path
    rel: str
    size: int
    mtime_ns: int
    change: tuple = ()  # (ctime_ns, inode): restoring an mtime after an edit still changes these


@dataclass(frozen=True)
class SourceFile:
    path: Path
    rel: str
    text: str
    digest: str


@dataclass
class Skipped:
    rel: str
    reason: str


@dataclass
class Discovery:
    files: list[FileRef] = field(default_factory=list)
    skipped: list[Skipped] = field(default_factory=list)
    excluded: int = 0  # files the include globs match that `exclude` drops (whole folders count once)
    ignored: int = 0  # ... that `.gitignore` drops


def glob_to_regex(pattern: str) -> re.Pattern[str]:
    """A path glob where `**` spans directories and `*` / `?` stay inside one."""
    out = []
    index = 0
    while index < len(pattern):
        char = pattern[index]
        if pattern.startswith("**/", index):
            out.append("(?:.*/)?")
            index += 3
        elif pattern.startswith("**", index):
            out.append(".*")
            index += 2
        elif char == "*":
            out.append("[^/]*")
            index += 1
        elif char == "?":
            out.append("[^/]")
            index += 1
        elif char == "[":
            end = pattern.find("]", index)
            if end == -1:
                out.append(re.escape(char))
                index += 1
            else:
                members = pattern[index + 1 : end]
                if members.startswith("!"):  # glob negation is `[!...]`; a regex writes `[^...]`
                    members = "^" + members[1:]
                try:
                    re.compile(f"[{members}]")
                except re.error as exc:
                    raise ValueError(f"invalid glob {pattern!r}: {exc.msg} in {pattern[index : end + 1]!r}") from None
                out.append(f"[{members}]")
                index = end + 1
        else:
            out.append(re.escape(char))
            index += 1
    return re.compile("^" + "".join(out) + "$")


class GlobSet:
    def __init__(self, patterns: list[str]):
        self.patterns = list(patterns)
        self._regexes = [glob_to_regex(p.lstrip("./") if p.startswith("./") else p) for p in patterns]

    def matches(self, rel: str) -> bool:
        return any(regex.match(rel) for regex in self._regexes)

    def matches_dir(self, rel_dir: str) -> bool:
        """True when a whole directory is excluded (pattern like `a/b/**` or `**/x/**`)."""
        probe = rel_dir.rstrip("/") + "/\x00"
        return any(regex.match(probe) for regex in self._regexes)


MAX_IGNORE_LINES = 10_000
MAX_IGNORE_PATTERN = 1_000
MAX_IGNORE_WILDCARDS = 16


class GitIgnore:
    """The subset of .gitignore semantics research repos use: globs, anchoring, dir-only, negation."""

    def __init__(self) -> None:
        self._rules: list[tuple[str, re.Pattern[str], bool, bool]] = []

    def add_file(self, gitignore: Path, base: str) -> None:
        text = read_tree_config(gitignore, errors="replace")
        if text is None:
            return
        for raw in text.splitlines()[:MAX_IGNORE_LINES]:
            line = raw.rstrip()
            if not line or line.startswith("#"):
                continue
            # a pattern no repository needs, but one a hostile tree can write to make matching slow
            # (`a*a*a*...` backtracks): skipped, so such a file is audited rather than hidden
            if len(line) > MAX_IGNORE_PATTERN or line.count("*") + line.count("?") > MAX_IGNORE_WILDCARDS:
                continue
            try:
                glob_to_regex(line.lstrip("!/"))
            except ValueError:  # `[9-0]`: git ignores such a line too
                continue
            negate = line.startswith("!")
            if negate:
                line = line[1:]
            dir_only = line.endswith("/")
            line = line.rstrip("/")
            anchored = "/" in line
            line = line.lstrip("/")
            pattern = line if anchored else "**/" + line
            prefix = f"{base}/" if base else ""
            self._rules.append((base, glob_to_regex(prefix + pattern), negate, dir_only))

    def ignored(self, rel: str, is_dir: bool) -> bool:
        result = False
        for base, regex, negate, dir_only in self._rules:
            if dir_only and not is_dir:
                continue
            if base and not rel.startswith(base + "/"):
                continue
            if regex.match(rel):
                result = not negate
        return result


_CODING = re.compile(rb"^[ \t\f]*#.*?coding[:=][ \t]*([-\w.]+)")


def declared_encoding(data: bytes) -> str:
    """PEP 263: a `# -*- coding: latin-1 -*-` cookie on one of the first two lines (UTF-8 otherwise)."""
    if data.startswith(b"\xef\xbb\xbf"):
        return "utf-8-sig"
    for line in data.split(b"\n", 2)[:2]:
        match = _CODING.match(line)
        if match:
            return match.group(1).decode("ascii", "replace").lower()
        if line.strip() and not line.lstrip().startswith(b"#"):
            break
    return "utf-8"


RAW_SCAN_BYTES = 64 * 1024 * 1024  # how much of a skipped file is searched for the names checks need


class NotRegular(OSError):
    """The path is a directory, FIFO, socket or device: it is never read."""


def read_regular(path: Path, limit: int, follow_links: bool = False) -> bytes:
    """At most `limit + 1` bytes of `path`, opened only if it is a regular file: non-blocking (a FIFO
    cannot hang the open), not through a link unless `follow_links`, checked with fstat on the open
    handle (no race with a swap), and capped (a device or a growing file cannot make it read without
    end). Raises `NotRegular` or the `OSError` of the open or read."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | (0 if follow_links else getattr(os, "O_NOFOLLOW", 0))
    try:
        handle = os.open(path, flags)
    except OSError:
        replay.note_stat(path, follow_links)   # missing, a link, not permitted: the next run sees the same
        raise
    try:
        status = os.fstat(handle)
        replay.note_stat(path, follow_links, status)
        mode = status.st_mode
        if not statmod.S_ISREG(mode):
            raise NotRegular(21 if statmod.S_ISDIR(mode) else 0,
                             "a directory" if statmod.S_ISDIR(mode) else "not a regular file", str(path))
        with os.fdopen(handle, "rb", closefd=False) as stream:
            return stream.read(limit + 1)
    finally:
        os.close(handle)


def _read_if_regular(path: Path, limit: int) -> bytes | None:
    """At most `limit + 1` bytes of `path` if it is a regular file itself, else None: checked with
    `lstat` first, so a link is not even opened (opening it would already go where it points)."""
    try:
        status = os.lstat(path)
        replay.note_stat(path, False, status)
        if not statmod.S_ISREG(status.st_mode):
            return None
        return read_regular(path, limit)
    except OSError:
        replay.note_stat(path, False)
        return None


def read_tree_config(path: Path, limit: int = MAX_FILE_BYTES, errors: str = "strict") -> str | None:
    """A configuration file of the audited tree (`pyproject.toml`, `.gitignore`) as UTF-8 text, read as
    sources are: only a regular file, never through a link (which may point outside the tree), never
    more than `limit` bytes (None beyond it), never blocking (a FIFO is not read). None for anything
    else or undecodable text."""
    data = _read_if_regular(path, limit)
    if data is None or len(data) > limit:
        return None
    try:
        return data.decode("utf-8", errors=errors)
    except UnicodeDecodeError:
        return None


def read_raw_text(path: Path) -> str | None:
    """The bytes of a regular file (at most RAW_SCAN_BYTES) as latin-1 text, which maps every byte to one
    character: enough to see whether a file that could not be decoded or parsed names what a check
    needs. None for anything that is not a readable regular file."""
    data = _read_if_regular(path, RAW_SCAN_BYTES)   # never even try a link, a FIFO or a device
    return data[:RAW_SCAN_BYTES].decode("latin-1") if data is not None else None


def read_source(ref: FileRef) -> SourceFile | Skipped:
    """The file's text, read only if it is still a regular file, and never more than the size cap
    (a file that grew since discovery, or a device swapped in, cannot make us read without end)."""
    try:
        data = read_regular(ref.path, MAX_FILE_BYTES)
    except NotRegular:
        return Skipped(ref.rel, "not a regular file (a FIFO, socket or device is never read)")
    except OSError as exc:
        return Skipped(ref.rel, f"cannot read: {exc.strerror}")
    if len(data) > MAX_FILE_BYTES:
        return Skipped(ref.rel, f"larger than {MAX_FILE_BYTES // (1024 * 1024)} MB")
    digest = hashlib.sha256(data).hexdigest()
    if b"\x00" in data:
        return Skipped(ref.rel, "binary file (NUL byte)")
    encoding = declared_encoding(data) if ref.rel.endswith(".py") else "utf-8"
    try:
        text = data.decode(encoding)
    except (UnicodeDecodeError, LookupError) as exc:
        where = ""
        if isinstance(exc, UnicodeDecodeError):
            line = data[: exc.start].count(b"\n") + 1
            where = f" (byte {exc.start}, line {line})"
        return Skipped(ref.rel, f"not valid {encoding}{where}")
    return SourceFile(ref.path, ref.rel, text, digest)


MAX_INDEX_BYTES = 256 * 1024 * 1024


def tracked_paths(root: Path) -> set[str]:
    """Paths git tracks in the repository at `root` (read from `.git/index`, versions 2-4, without
    running git). `.gitignore` does not apply to a tracked file, so neither does discovery. Empty when
    `root` is no repository root or the index cannot be read."""
    import struct

    data = _read_if_regular(root / ".git" / "index", MAX_INDEX_BYTES)   # never through a link, bounded
    if data is None or len(data) > MAX_INDEX_BYTES:
        return set()
    if len(data) < 12 or data[:4] != b"DIRC":
        return set()
    version, count = struct.unpack(">II", data[4:12])
    if version not in (2, 3, 4):
        return set()
    paths: set[str] = set()
    offset, previous = 12, b""
    try:
        for _ in range(count):
            start = offset
            flags = struct.unpack(">H", data[offset + 60: offset + 62])[0]
            offset += 62
            if version >= 3 and flags & 0x4000:  # extended flags
                offset += 2
            if version == 4:  # the path is the previous one less N bytes, plus a suffix
                strip, shift = 0, 0
                while True:
                    byte = data[offset]
                    offset += 1
                    strip = (strip << 7) | (byte & 0x7F) if shift else byte & 0x7F
                    if not byte & 0x80:
                        break
                    strip += 1
                    shift += 1
                end = data.index(b"\0", offset)
                path = previous[: len(previous) - strip] + data[offset:end]
                offset = end + 1
            else:
                end = data.index(b"\0", offset)
                path = data[offset:end]
                offset = start + ((end - start + 8) // 8) * 8  # NUL-padded to a multiple of eight
            previous = path
            paths.add(path.decode("utf-8", "surrogateescape"))
    except (IndexError, ValueError, struct.error):
        return paths  # a truncated index: what was read is still right
    return paths


def discover(root: Path, include: list[str], exclude: list[str]) -> Discovery:
    """Walk `root` without following symlinks, so loops and escapes are impossible. A directory that
    cannot be listed is reported as skipped, not silently missing; a file git tracks is audited even
    when a `.gitignore` pattern matches it (as git itself does)."""
    result = Discovery()
    includes, excludes = GlobSet(include), GlobSet(exclude)
    ignore = GitIgnore()
    tracked = tracked_paths(root)
    tracked_dirs = {path.rsplit("/", depth)[0] for path in tracked for depth in range(1, path.count("/") + 1)}

    def left_out(rel: str, folder: bool) -> bool:
        """Excluded by the spec, or ignored by `.gitignore` and not tracked by git; counted either way."""
        if excludes.matches_dir(rel) if folder else excludes.matches(rel):
            result.excluded += 1
            return True
        if ignore.ignored(rel, folder) and rel not in (tracked_dirs if folder else tracked):
            result.ignored += 1
            return True
        return False

    def visit(directory: str, rel_dir: str) -> list[tuple[str, str]]:
        """Record one directory's files; return its subdirectories to walk, in name order.

        One `scandir` per directory and one `lstat` per candidate file: an entry's type comes from the
        listing, links are never followed (no `stat` that a link swapped in between could redirect)."""
        try:
            with os.scandir(directory) as listing:
                entries = sorted(listing, key=lambda entry: entry.name)
        except OSError as error:
            replay.note("list", directory, f"error {error.errno}")
            result.skipped.append(Skipped(rel_dir or ".", f"cannot list directory: {error.strerror}"))
            return []
        if replay.recording():
            replay.note("list", directory, replay.listing_signature(entries))
        if any(entry.name == ".gitignore" for entry in entries):   # read only if a regular file (read_tree_config)
            ignore.add_file(Path(directory, ".gitignore"), rel_dir)
        subdirectories = []
        for entry in entries:
            name = entry.name
            rel = f"{rel_dir}/{name}" if rel_dir else name
            try:
                is_dir = entry.is_dir()   # through a link, as os.walk sorts names: a link to a folder is left out
            except OSError:
                is_dir = False
            if is_dir:
                if name not in ALWAYS_SKIPPED_DIRS and not entry.is_symlink() and not left_out(rel, True):
                    subdirectories.append((entry.path, rel))
                continue
            if not includes.matches(rel) or left_out(rel, False):
                continue
            try:
                stat = entry.stat(follow_symlinks=False)
                replay.note_stat(entry.path, False, stat)
            except OSError as exc:
                replay.note_stat(entry.path, False)
                result.skipped.append(Skipped(rel, f"cannot stat: {exc.strerror}"))
                continue
            if statmod.S_ISLNK(stat.st_mode):
                result.skipped.append(Skipped(rel, "symbolic link (not followed)"))
                continue
            if not statmod.S_ISREG(stat.st_mode):
                result.skipped.append(Skipped(rel, "not a regular file (a FIFO, socket or device is never read)"))
                continue
            if stat.st_size > MAX_FILE_BYTES:
                result.skipped.append(Skipped(rel, f"larger than {MAX_FILE_BYTES // (1024 * 1024)} MB ({stat.st_size} bytes)"))
                continue
            result.files.append(FileRef(Path(entry.path), rel, stat.st_size, stat.st_mtime_ns, (stat.st_ctime_ns, stat.st_ino)))
        return subdirectories

    # depth first, in name order, as os.walk goes; a stack, not recursion: nesting cannot exhaust the C stack
    pending = [(str(root), "")]
    while pending:
        pending.extend(reversed(visit(*pending.pop())))
    result.files.sort(key=lambda f: f.rel)
    return result


def fnmatch_any(name: str, globs: list[str]) -> bool:
    return any(fnmatch.fnmatchcase(name, glob) for glob in globs)
