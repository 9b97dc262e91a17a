"""Sparse parsing: only the top-level definitions some check can look at reach libcst.

libcst's parse is most of a cold audit, and most of a big file is definitions no check asks about
(a spec about `load_state_dict` and `forward` has nothing to say about a module's forty helpers).
Every check kind whose facts live inside definitions (`CheckKind.segment_relevant`) says whether a
top-level `def` / `class` can hold one, from its text alone, the way the file pre-filter does for the
whole file. The others' lines are removed before the parse (libcst makes a node of every empty line,
so emptying them cost a third of the parse); kept lines are untouched, and `line_map` takes each back
to its line in the file. When some check of the file follows names (`CheckKind.follows_names`), what
is kept is closed under them: module-level statements are always kept, and so is any definition
whose name (or whose local import's name) occurs in kept text, repeated until nothing is added, so
a helper, a base class or a decorator a kept definition uses by name is still there to follow. A
method is reached the way the analysis reaches one, through `self.`: kept text that says
`self.name` (a call, or an attribute the method sets), or its class body naming it; a bare word
`get` in `kwargs.get` is not. When none does, nothing is kept for being named, and a kept class
keeps only the body statements some check can look at. An import alias counts as what it stands
for (`from torch import load as L`: `L(p)` is a `torch.load` call); a definition that would need more
of such meanings appended than its own size (plus `EXPANSION_SLACK`) is kept untested, so that the
cost stays linear on a hostile file.

A file is parsed whole when any of its checks is not local to definitions (flows, branches), when
CPython's parser refuses it (the syntax error is then libcst's to report, exactly as before), when
its lines end in `\\r`, or when a cheap estimate says too little would be left out to pay for
CPython's parse of it. A module-level import none of whose names the kept code uses is left out
too, unless some check's fact may be an import statement itself (`CheckKind.reads_imports`): a check
meets an import only through the names it binds. The CLI extraction is local too: a definition that cannot hold an option
(extract.cli.may_hold_options) is left out like any other. `LEVERAUDIT_SPARSE=0` turns it off;
reports are identical either way (tests/test_sparse.py).
"""

from __future__ import annotations

import ast
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field

ENABLED = os.environ.get("LEVERAUDIT_SPARSE", "1") != "0"

_WORD = re.compile(r"[^\W\d]\w*")
_DEFINITION = (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)


@dataclass
class SparseSource:
    text: str                 # the source without the unneeded definitions' lines
    body: list[ast.stmt]      # CPython's statements for what is kept (line anchors for evidence)
    blanked: int              # definitions left out
    # the original line of each line of `text` (None: `text` is the source itself)
    line_map: list[int] | None = None
    imports_left_out: int = 0  # module-level imports none of whose names the kept code uses (drop_imports)


@dataclass
class _Segment:
    statement: ast.stmt
    first: int                # 1-based, inclusive
    last: int
    text: str
    triggers: set[str] = field(default_factory=set)   # a kept word among these keeps the segment
    kept: bool = False
    split: bool = False       # a kept class whose unneeded methods are blanked


def _nested_statements(statement: ast.stmt):
    """Every statement inside `statement` (imports are statements: expressions need no visit)."""
    todo = [statement]
    while todo:
        current = todo.pop()
        yield current
        for name in ("body", "orelse", "finalbody"):
            inner = getattr(current, name, None)
            if isinstance(inner, list):
                todo += inner
        for handler in getattr(current, "handlers", ()):
            todo += handler.body
        for case in getattr(current, "cases", ()):
            todo += case.body


# statements that can hold an import: imports, and those with a body or cases (a simple statement has none)
_MAY_IMPORT = frozenset(kind for kind in vars(ast).values() if isinstance(kind, type) and issubclass(kind, ast.stmt)
                        and ({"body", "cases"} & set(kind._fields) or kind in (ast.Import, ast.ImportFrom)))


def _imports(statement: ast.stmt) -> dict[str, set[str]]:
    """Names an `import` anywhere in `statement` binds, with what they stand for."""
    if type(statement) not in _MAY_IMPORT:   # most module-level statements: no walk
        return {}
    bound: dict[str, set[str]] = {}
    for node in _nested_statements(statement):
        if isinstance(node, ast.Import):
            for alias in node.names:
                local = alias.asname or alias.name.split(".")[0]
                bound.setdefault(local, set()).add(alias.name)
        elif isinstance(node, ast.ImportFrom):
            for alias in node.names:
                if alias.name != "*":
                    bound.setdefault(alias.asname or alias.name, set()).add(f"{node.module or ''}.{alias.name}")
    return bound


# `self.name =` / `self.name: T =` (not `==`): a method that sets an attribute another method reads
_SELF_ASSIGNED = re.compile(r"\bself\s*\.\s*(\w+)\s*(?::[^=\n]*)?=(?!=)")
# `self.name`: how the analysis reaches a method (`self.helper(...)`, analysis/model.py `local_callee`)
# or an attribute another method sets (`class_attribute_assignments`); a bare `name` never leads there
_SELF_ATTRIBUTE = re.compile(r"\bself\s*\.\s*([^\W\d]\w*)")


def _words(text: str) -> set[str]:
    """The words of `text`, plus `self.name` for each attribute read or call through `self`."""
    return set(_WORD.findall(text)) | {"self." + name for name in _SELF_ATTRIBUTE.findall(text)}


def _marked(size: int, spans) -> bytearray:
    """`size + 1` flags (index = 1-based line), set on every line of each inclusive (first, last) span."""
    flags = bytearray(size + 1)
    for first, last in spans:
        flags[first:last + 1] = b"\1" * (last - first + 1)
    return flags


def _first_line(statement: ast.stmt) -> int:
    return min([statement.lineno] + [d.lineno for d in getattr(statement, "decorator_list", ())])


# found from the newline before them: a literal first character lets the regex engine skip to it (`^` with
# re.M tried every position, four times slower)
_DEFINITION_LINE = ("def ", "async def ", "class ")
_TOP_DEFINITION = re.compile(r"\n(?=" + "|".join(_DEFINITION_LINE) + ")")
_INDENTED_DEFINITION = re.compile(r"\n([ \t]+)(?=" + "|".join(_DEFINITION_LINE[:2]) + ")")


def _definition_starts(text: str) -> list[int]:
    """Where each line starting with `def `, `async def ` or `class ` starts."""
    starts = [m.start() + 1 for m in _TOP_DEFINITION.finditer(text)]
    return [0] + starts if text.startswith(_DEFINITION_LINE) else starts

# characters of a class's header (decorators, bases) repeated into each of its methods' tests
MAX_HEADER = 4096

# characters of import aliases' meanings a definition is tested with beyond its own size (is_wanted)
EXPANSION_SLACK = 512

# CPython's parse costs about a sixth of libcst's: below this share of lines to leave out it does not pay
WORTH_TRYING = 0.25


def _worth_trying(text: str, wanted: Callable[[str], bool], split_classes: bool) -> bool:
    """A cheap estimate, from column-0 and indented `def` / `class` lines alone, of whether enough of
    the file would be left out to pay for CPython's parse; it only decides whether to try (what is
    left out is decided on CPython's statements), so a wrong guess costs time, never a fact."""
    starts = _definition_starts(text)
    if not starts:
        return False
    enough = max(WORTH_TRYING * text.count("\n"), 1)   # decided as soon as this much is known to go
    unwanted = 0
    for begin, end in zip(starts, starts[1:] + [len(text)]):
        chunk = text[begin:end]
        if not wanted(chunk):
            unwanted += chunk.count("\n")
        elif split_classes and chunk.startswith("class "):
            methods = list(_INDENTED_DEFINITION.finditer(chunk))
            if not methods:
                continue
            indent = methods[0].group(1)
            bounds = [m.start() + 1 for m in methods if m.group(1) == indent] + [len(chunk)]
            header = chunk[:chunk.find("\n") + 1]   # the `class` line: what a method's test needs of it
            for first, last in zip(bounds, bounds[1:]):
                if not wanted(header + chunk[first:last]):
                    unwanted += chunk.count("\n", first, last)
        if unwanted >= enough:
            return True
    return False


def sparse_source(text: str, wanted: Callable[[str], bool], split_classes: bool = False,
                  follow_names: bool = True, drop_imports: bool = False) -> SparseSource | None:
    """The source with the top-level definitions `wanted` refuses (and nothing kept names) blanked,
    and with `split_classes` the unneeded methods of a kept class too (`blanked` 0: nothing to leave
    out); None when the file must be parsed whole without CPython's statements.

    Without `follow_names` (every check's facts lie in their own definition's text, read without
    resolving names) nothing is kept for being named: there is no closure. With `drop_imports` (no
    check's fact can be an import statement itself) a module-level `import` / `from ... import` none
    of whose names occurs in the kept code is left out too (`_unused_imports`)."""
    if "\r" in text or not _worth_trying(text, wanted, split_classes):
        return None
    try:
        tree = ast.parse(text)
    except (SyntaxError, ValueError, RecursionError, MemoryError, OverflowError):
        return None
    lines = text.split("\n")

    def segment(statement) -> _Segment:
        first, last = _first_line(statement), statement.end_lineno or statement.lineno
        return _Segment(statement, first, last, "\n".join(lines[first - 1:last]))

    top = [segment(s) for s in tree.body if isinstance(s, _DEFINITION)]
    if not top:
        return SparseSource(text, tree.body, 0)
    aliases: dict[str, set[str]] = {}
    for statement in tree.body:
        if not isinstance(statement, _DEFINITION):   # module-level imports, also under `if`, `try`, loops
            for local, targets in _imports(statement).items():
                aliases.setdefault(local, set()).update(targets)
    segments = list(top)
    for item in top:
        bound = _imports(item.statement) if "import" in item.text else {}
        if follow_names:
            item.triggers = {item.statement.name} | bound.keys()
        if bound:
            for local, targets in bound.items():
                aliases.setdefault(local, set()).update(targets)
    # what an aliased name stands for counts as written: `from torch import load as L; L(p)` is a
    # `torch.load` call to a check, and `L(p)` alone does not say so (a plain `import torch` adds nothing)
    renamed = {local: targets for local, targets in aliases.items() if targets != {local}}

    # each alias's meanings, set apart by NUL: no test's match can span one (below)
    meanings = {local: "\0" + "\0".join(sorted(targets)) for local, targets in renamed.items()}
    # every test `wanted` makes is "this occurs in the text" (words, `def name`), combined with and / or,
    # so adding text never turns it false: the text with every meaning appended is wanted whenever the
    # text with some of them is
    everything = "".join(meanings.values())

    def is_wanted(text: str) -> bool:
        if not renamed:
            return wanted(text)
        # what a definition is tested with stays within its own size (plus a little): a hostile file of
        # many aliases, or one alias bound to many modules, costs linear time, not aliases x definitions
        budget = len(text) + EXPANSION_SLACK
        if len(everything) <= budget and not wanted(text + everything):
            return False   # not even with every meaning: nothing to look up
        if len(renamed) <= 32:   # a substring test per alias is cheaper than the text's words
            used = [local for local in renamed if local in text]
        else:                    # many aliases: linear in the text, whatever their number
            used = set(_WORD.findall(text)) & renamed.keys()
        if not used:
            return wanted(text)
        if sum(len(meanings[local]) for local in used) > budget:
            return True   # kept untested: a kept definition is parsed, so nothing is ever lost by it
        return wanted(text + "".join(meanings[local] for local in used))

    kept_texts: list[str] = []   # whose words the closure starts from (module-level code too, below)
    for item in top:
        item.kept = is_wanted(item.text)
        if not item.kept:
            continue
        methods = [s for s in item.statement.body if isinstance(s, (ast.FunctionDef, ast.AsyncFunctionDef))] \
            if split_classes and isinstance(item.statement, ast.ClassDef) else []
        header_end = _first_line(item.statement.body[0]) - 1 if methods else 0
        if not methods or header_end < item.statement.lineno:
            kept_texts.append(item.text)
            continue
        header = "\n".join(lines[item.first - 1:header_end])
        if len(header) > MAX_HEADER:   # each method is tested with it: a huge decorator keeps the class whole
            kept_texts.append(item.text)
            continue
        # without names to follow, every statement of the body is judged alone: class attributes and
        # docstrings no check looks at go too
        parts = [segment(m) for m in (methods if follow_names else item.statement.body)]

        def outside(left_out: list[_Segment]) -> str:   # the class's lines, less those of `left_out`
            mask = bytearray(item.last - item.first + 1)
            for part in left_out:
                mask[part.first - item.first:part.last - item.first + 1] = b"\1" * (part.last - part.first + 1)
            return "\n".join(l for n, l in enumerate(lines[item.first - 1:item.last]) if not mask[n])

        class_level = set(_WORD.findall(outside(parts))) if follow_names else set()
        for part in parts:
            # kept code reaches a method through `self.` only; its class body may name it (`run = forward`)
            if follow_names:
                name = part.statement.name
                part.triggers = {"self." + name} | {"self." + a for a in _SELF_ASSIGNED.findall(part.text)}
                if name in class_level:
                    part.triggers.add(name)
                if "import" in part.text:
                    part.triggers |= _imports(part.statement).keys()
            part.kept = is_wanted(header + "\n" + part.text)
        for before, after in zip(parts, parts[1:]):
            # `x = (a,\n b); y = 2`: removing the lines of one would cut the other, so both stay
            if before.last >= after.first:
                before.kept = after.kept = True
        if all(not p.kept for p in parts) and len(parts) == len(item.statement.body):
            kept_texts.append(item.text)   # an emptied class body would not parse: keep it whole
            continue
        item.split = True
        segments += parts
        kept_texts.append(outside([part for part in parts if not part.kept]))

    # the closure, as a worklist over trigger words: linear however long a chain of helpers is (a
    # method is only a candidate in a kept class, so a kept word always applies)
    waiting: dict[str, list[_Segment]] = {}
    for item in segments:
        if not item.kept:
            for trigger in item.triggers:
                waiting.setdefault(trigger, []).append(item)
    if waiting:   # words are collected from kept text only: a left-out definition needs just its triggers
        in_segment = _marked(len(lines), [(item.first, item.last) for item in top])
        kept_texts.append("\n".join(l for n, l in enumerate(lines, 1) if not in_segment[n]))
        kept_words = set().union(*map(_words, kept_texts))
        todo = [word for word in waiting if word in kept_words]
        while todo:
            for item in waiting.pop(todo.pop(), ()):
                if not item.kept:
                    item.kept = True
                    new = _words(item.text) - kept_words
                    kept_words |= new
                    todo += [word for word in new if word in waiting]
    dropped = [item for item in segments if not item.kept]
    unused = _unused_imports(tree.body, lines, dropped) if drop_imports else []
    if not dropped and not unused:   # parsed whole; CPython's statements still spare the evidence lines a second parse
        return SparseSource(text, tree.body, 0)
    # the left-out lines are removed, not emptied: libcst makes a node of every empty line (a third of
    # its parse of a sparse file); positions come from CPython's statements of the original, and
    # `line_map` takes any other line back to where it was
    left_out = _marked(len(lines), [(item.first, item.last) for item in dropped] +
                       [(statement.lineno, statement.end_lineno) for statement in unused])
    line_map = [number for number in range(1, len(lines) + 1) if not left_out[number]]
    gone = {id(item.statement) for item in dropped} | {id(statement) for statement in unused}
    for item in top:
        if item.split:
            item.statement.body = [s for s in item.statement.body if id(s) not in gone]
    return SparseSource("\n".join([lines[number - 1] for number in line_map]),
                        [s for s in tree.body if id(s) not in gone], len(dropped), line_map, len(unused))


def _unused_imports(body: list[ast.stmt], lines: list[str], dropped: list[_Segment]) -> list[ast.stmt]:
    """The module-level imports a check can never meet: each alone on its lines (`import os; x = 1`
    stays), not `from __future__` (it changes how the rest parses) nor `*` (its names are unknown), and
    none of whose names occurs as a word in what is kept (the kept definitions and every other
    module-level statement; strings and comments count, which only keeps more). A check sees an
    import only through a name it binds (`module.resolve`, the data flow), and a name the kept code
    never says is never asked about."""
    candidates = []
    for index, statement in enumerate(body):
        if type(statement) not in (ast.Import, ast.ImportFrom):
            continue
        if isinstance(statement, ast.ImportFrom) and statement.module == "__future__":
            continue
        if any(alias.name == "*" for alias in statement.names):
            continue
        names = _imports(statement).keys()
        before = body[index - 1].end_lineno if index else 0
        after = body[index + 1].lineno if index + 1 < len(body) else len(lines) + 1
        if before < statement.lineno and statement.end_lineno < after:
            candidates.append((statement, names))
    if not candidates:
        return []
    skipped = _marked(len(lines), [(item.first, item.last) for item in dropped] +
                      [(statement.lineno, statement.end_lineno) for statement, _ in candidates])
    kept_words = _words("\n".join(line for number, line in enumerate(lines, 1) if not skipped[number]))
    return [statement for statement, names in candidates if not any(name in kept_words for name in names)]
