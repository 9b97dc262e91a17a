"""The repository's config surface: every program's options, and which program an invocation runs.

Programs are Python files with argparse / typer / click options; console scripts come from
`pyproject.toml` (`[project.scripts]`). Files are parsed lazily, only when an invocation, a doc or a
config needs them.
"""

from __future__ import annotations

import difflib
import hashlib
from dataclasses import dataclass
from pathlib import Path

import tomllib

from leveraudit import replay
from leveraudit.extract.cli import CliOption, extract_cli, may_hold_options
from leveraudit.extract.discover import Skipped, SourceFile, discover, read_source, read_tree_config
from leveraudit.extract.invocations import Invocation, markdown_parts, shell_invocations
from leveraudit.extract.module import ParseFailure, parse_module

CLI_MARKERS = ("add_argument", "typer", "click", "Option(")


@dataclass
class Program:
    label: str  # how to name it in messages
    path: str
    options: list[CliOption]

    @property
    def flags(self) -> list[str]:
        return sorted({flag for option in self.options for flag in option.flags})

    @property
    def argparse(self) -> bool:
        return any(option.framework == "argparse" for option in self.options)

    def option_for(self, flag: str) -> CliOption | None:
        """The option a flag selects: exact, or (argparse) a unique prefix of a long flag."""
        for option in self.options:
            if flag in option.flags:
                return option
        if self.argparse and flag.startswith("--"):
            matches = {o.dest: o for o in self.options for f in o.flags if f.startswith(flag)}
            if len(matches) == 1:
                return next(iter(matches.values()))
        return None

    def nearest(self, flag: str) -> str | None:
        flags = self.flags
        normalized = {f.replace("-", "_"): f for f in flags}
        key = flag.replace("-", "_")
        if key in normalized:
            return normalized[key]
        close = difflib.get_close_matches(flag, flags, n=1, cutoff=0.6)
        return close[0] if close else None


def _ref(root: Path, path: Path):
    from leveraudit.extract.discover import FileRef

    stat = path.stat()
    return FileRef(path, path.relative_to(root).as_posix(), stat.st_size, stat.st_mtime_ns,
                   (stat.st_ctime_ns, stat.st_ino))


class Surface:
    def __init__(self, root: Path, exclude: list[str], program_files: list[str] | None = None,
                 cache_dir: Path | None = None) -> None:
        from leveraudit.cache import FactCache
        from leveraudit.extract.sparse import ENABLED as SPARSE

        self.root = root
        self.exclude = exclude
        self.program_files = program_files  # known candidates (files with CLI markers), if the caller has them
        self._texts: dict[tuple, list[SourceFile]] = {}
        self._options: dict[str, list[CliOption]] = {}
        self._markdown: dict[str, tuple[list, list]] = {}
        self.scripts = self._console_scripts()
        # a program's options by (path, content): a warm audit parses none of the programs it resolves
        self._sparse = SPARSE
        self._cache = FactCache(cache_dir, "cli-surface" + ("+sparse" if SPARSE else ""))

    # -- files ---------------------------------------------------------------------------------
    def files(self, globs: list[str]) -> list[SourceFile]:
        key = tuple(globs)
        if key not in self._texts:
            found = discover(self.root, globs, self.exclude)
            self._texts[key] = [s for s in (read_source(ref) for ref in found.files) if not isinstance(s, Skipped)]
        return self._texts[key]

    def python_files(self) -> list[SourceFile]:
        """Python files that may define CLI options (all of them when no candidate list was given)."""
        if self.program_files is None:
            return self.files(["**/*.py"])
        key = ("<programs>",)
        if key not in self._texts:
            refs = [self.root / rel for rel in self.program_files]
            self._texts[key] = [s for s in (read_source(_ref(self.root, path)) for path in refs)
                                if not isinstance(s, Skipped)]
        return self._texts[key]

    def options_in(self, rel: str) -> list[CliOption]:
        """The CLI options a file of the tree defines; none for a path outside the tree, a link, or
        anything that is not a readable regular file (read as discovery reads files)."""
        if rel not in self._options:
            self._options[rel] = self._read_options(rel)
        return self._options[rel]

    def _read_options(self, rel: str) -> list[CliOption]:
        if self._inside_root(rel) != rel:
            return []
        path = self.root / rel
        try:
            source = read_source(_ref(self.root, path))
        except OSError:
            return []
        if isinstance(source, Skipped) or not any(m in source.text for m in CLI_MARKERS):
            return []
        key = hashlib.sha256(f"{rel}\0{source.digest}".encode()).hexdigest()
        cached = self._cache.get(key)
        if cached is not None:
            return [CliOption.from_json(o) for o in cached["cli"]]
        module = parse_module(rel, source.text, may_hold_options, True) if self._sparse else \
            parse_module(rel, source.text)
        options = [] if isinstance(module, ParseFailure) else extract_cli(module)
        self._cache.put(key, {"cli": [o.to_json() for o in options]})
        return options

    def markdown_parts(self, source: SourceFile) -> tuple[list[tuple[int, str]], list[tuple[str, int]]]:
        """`markdown_parts` of a document, cached by its content (Markdown parsing is pure Python)."""
        key = hashlib.sha256(f"markdown\0{source.digest}".encode()).hexdigest()
        if key not in self._markdown:
            cached = self._cache.get(key)
            if cached is not None:
                parts = ([tuple(b) for b in cached["blocks"]], [tuple(s) for s in cached["spans"]])
            else:
                parts = markdown_parts(source.text)
                self._cache.put(key, {"blocks": parts[0], "spans": parts[1]})
            self._markdown[key] = parts
        return self._markdown[key]

    def all_programs(self) -> list[Program]:
        programs = []
        for source in self.python_files():
            if any(m in source.text for m in CLI_MARKERS):
                options = self.options_in(source.rel)
                if options:
                    programs.append(Program(source.rel, source.rel, options))
        return programs

    # -- invocations ---------------------------------------------------------------------------
    def invocations(self, scripts: list[str], docs: list[str]) -> list[Invocation]:
        names = set(self.scripts)
        found: list[Invocation] = []
        for source in self.files(scripts):
            found += shell_invocations(source.rel, source.text, names)
        for source in self.files(docs):
            blocks, _ = self.markdown_parts(source)
            for first_line, block in blocks:
                found += shell_invocations(source.rel, block, names, first_line)
        return found

    def resolve(self, invocation: Invocation) -> Program | None:
        if invocation.target_kind == "file":
            base = Path(invocation.path).parent
            for candidate in (invocation.target, (base / invocation.target).as_posix()):
                inside = self._inside_root(candidate)
                if inside is not None and replay.is_regular_file(self.root / inside):
                    return Program(inside, inside, self.options_in(inside))
            return None
        if invocation.target_kind == "module":
            return self._module_program(invocation.target, f"python -m {invocation.target}")
        target = self.scripts.get(invocation.target)
        if target is None:
            return None
        program = self._module_program(target.split(":")[0], invocation.target)
        if program is not None and invocation.command:
            commands = {o.command for o in program.options}
            if invocation.command in commands:
                program.options = [o for o in program.options if o.command == invocation.command]
                program.label = f"{invocation.target} {invocation.command}"
        return program

    def _inside_root(self, candidate: str) -> str | None:
        """The root-relative path of a script an invocation names, or None when it lies outside the
        audited tree (`python /abs/x.py`, `python ../../x.py`): such files are never read."""
        if Path(candidate).is_absolute():
            return None
        root = Path(replay.resolved(self.root))   # recorded: a link changed later changes the answer
        try:
            resolved = Path(replay.resolved(root / candidate))
            return resolved.relative_to(root).as_posix()
        except (ValueError, OSError, RuntimeError):
            return None

    def _module_program(self, module: str, label: str) -> Program | None:
        base = module.replace(".", "/")
        for candidate in (f"{base}.py", f"{base}/__main__.py", f"{base}/__init__.py"):
            inside = self._inside_root(candidate)   # `python -m ..etc.x` names no file of the tree
            if inside is not None and replay.is_regular_file(self.root / inside):
                return Program(label, inside, self.options_in(inside))
        return None

    def _console_scripts(self) -> dict[str, str]:
        text = read_tree_config(self.root / "pyproject.toml")
        try:
            document = tomllib.loads(text) if text is not None else {}
        except (ValueError, RecursionError):
            return {}
        scripts = document.get("project", {}).get("scripts", {})
        return {name: target for name, target in scripts.items() if isinstance(target, str)}

    def options_by_dest(self, dests: set[str]) -> dict[str, list[CliOption]]:
        """Options with these dests anywhere in the repository (files pre-filtered by text)."""
        found: dict[str, list[CliOption]] = {}
        for source in self.python_files():
            if not any(m in source.text for m in CLI_MARKERS):
                continue
            if not any(d in source.text or d.replace("_", "-") in source.text for d in dests):
                continue
            for option in self.options_in(source.rel):
                if option.dest in dests:
                    found.setdefault(option.dest, []).append(option)
        return found

    def programs_with_flags(self, flags: set[str]) -> list[Program]:
        words = {f.lstrip("-") for f in flags} | {f.lstrip("-").replace("-", "_") for f in flags}
        programs = []
        for source in self.python_files():
            if any(m in source.text for m in CLI_MARKERS) and any(w in source.text for w in words):
                options = self.options_in(source.rel)
                if options:
                    programs.append(Program(source.rel, source.rel, options))
        return programs
