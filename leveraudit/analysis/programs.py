"""Programs: the files a plan talks about, named by their entry points.

A program is its entry files (path globs; `glob::Symbol` also requires the module to define that
top-level name) plus their import closure inside the audited tree: absolute, relative and aliased
imports, the packages an import passes through (`import a.b` runs `a/__init__.py`), package
re-exports, and imports inside functions. Imports are read with CPython's parser (`ast.parse`,
parse only: nothing is imported or run); a file that cannot be parsed simply adds no imports.

Module names are resolved the way `sys.path` would: a file `P/a/b.py` is module `a.b` for an
importer under the directory `P` (the closest such root wins), so copies of a package elsewhere
in the tree (fixtures, vendored experiments) are not mistaken for the one the entry imports.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path

from leveraudit.extract.discover import FileRef, GlobSet, Skipped, read_source


@dataclass
class ProgramScope:
    files: dict[str, set[str]] = field(default_factory=dict)  # program -> rel paths
    entries: dict[str, list[str]] = field(default_factory=dict)  # program -> matched entry files
    unmatched: dict[str, list[str]] = field(default_factory=dict)  # program -> entry globs that matched nothing

    def union(self, names: list[str]) -> set[str]:
        found: set[str] = set()
        for name in names:
            found |= self.files.get(name, set())
        return found


def _imports(text: str) -> tuple[list[tuple[str, int, list[str]]], set[str]]:
    """([(module, level, imported names)], top-level names defined) of a Python source."""
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError, OverflowError):
        return [], set()
    found: list[tuple[str, int, list[str]]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, 0, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            found.append((node.module or "", node.level, [a.name for a in node.names if a.name != "*"]))
    defined: set[str] = set()
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            defined.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            defined |= {t.id for t in targets if isinstance(t, ast.Name)}
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            defined |= {(a.asname or a.name).split(".")[0] for a in node.names}
    return found, defined


class ModuleIndex:
    """Dotted module names of the tree's Python files, for every directory that could be a root."""

    def __init__(self, rels: list[str]) -> None:
        self.by_name: dict[str, list[tuple[str, str]]] = {}  # name -> [(root dir, rel)]
        for rel in rels:
            parts = rel[:-3].split("/")
            if parts[-1] == "__init__":
                parts = parts[:-1]
            for cut in range(len(parts)):
                name = ".".join(parts[cut:])
                if name:
                    self.by_name.setdefault(name, []).append(("/".join(parts[:cut]), rel))

    def resolve(self, name: str, importer: str) -> str | None:
        importer_dir = importer.rsplit("/", 1)[0] if "/" in importer else ""
        best = None
        for root, rel in self.by_name.get(name, ()):
            if root == "" or importer_dir == root or importer_dir.startswith(root + "/"):
                if best is None or len(root) > len(best[0]):
                    best = (root, rel)
        return best[1] if best else None


def _targets(index: ModuleIndex, importer: str, module: str, level: int, names: list[str]) -> list[str]:
    if level:
        package = importer.split("/")[:-1]
        if level > 1:
            package = package[: len(package) - (level - 1)] if len(package) >= level - 1 else []
        base = ".".join(package + ([module] if module else []))
        # a relative import names a module by its full path from the tree root
        dotted = [base] + [f"{base}.{n}" if base else n for n in names]
        found = []
        for name in dotted:
            rel = _exact(index, name)
            if rel:
                found.append(rel)
        found += [rel for rel in (_exact(index, ".".join(base.split(".")[:i])) for i in range(1, len(base.split("."))))
                  if rel]
        return found
    found = []
    parts = module.split(".")
    for i in range(1, len(parts) + 1):  # a.b.c runs a/__init__.py and a/b/__init__.py first
        rel = index.resolve(".".join(parts[:i]), importer)
        if rel:
            found.append(rel)
    for name in names:
        rel = index.resolve(f"{module}.{name}", importer)
        if rel:
            found.append(rel)
    return found


def _exact(index: ModuleIndex, name: str) -> str | None:
    for root, rel in index.by_name.get(name, ()):
        if root == "":
            return rel
    return None


def compute_scope(programs: dict, files: list[FileRef], cache_dir: Path | None = None) -> ProgramScope:
    """The import closure of every program's entries, reading only the files reached (each file's
    imports cached by its content, so a warm audit parses none)."""
    from leveraudit.cache import FactCache

    python = {ref.rel: ref for ref in files if ref.rel.endswith(".py")}
    index = ModuleIndex(sorted(python))
    parsed: dict[str, tuple[list, set[str]]] = {}
    cache = FactCache(cache_dir, "imports")

    def facts(rel: str):
        if rel not in parsed:
            source = read_source(python[rel])
            if isinstance(source, Skipped):
                parsed[rel] = ([], set())
                return parsed[rel]
            cached = cache.get(source.digest)
            if cached is not None:
                parsed[rel] = (cached["imports"], set(cached["defined"]))
            else:
                parsed[rel] = _imports(source.text)
                cache.put(source.digest, {"imports": parsed[rel][0], "defined": sorted(parsed[rel][1])})
        return parsed[rel]

    scope = ProgramScope()
    for name, program in programs.items():
        entries: list[str] = []
        unmatched: list[str] = []
        for entry in program.entry:
            glob, _, symbol = entry.partition("::")
            matcher = GlobSet([glob])
            hits = [rel for rel in python if matcher.matches(rel) and (not symbol or symbol in facts(rel)[1])]
            entries += hits
            if not hits:
                unmatched.append(entry)
        closure: set[str] = set()
        todo = sorted(set(entries))
        while todo:
            rel = todo.pop()
            if rel in closure:
                continue
            closure.add(rel)
            for module, level, names in facts(rel)[0]:
                todo += [t for t in _targets(index, rel, module, level, names) if t not in closure]
        scope.files[name] = closure
        scope.entries[name] = sorted(set(entries))
        if unmatched:
            scope.unmatched[name] = unmatched
    return scope
