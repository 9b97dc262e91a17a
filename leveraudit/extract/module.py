"""A parsed file: the libcst tree plus the small indexes every check shares.

One traversal records parents, definitions and import aliases. Positions (libcst's costly
metadata) are computed only when a check first reports a line.
"""

from __future__ import annotations

import ast
import bisect
import fnmatch
import functools
import operator
import re
import threading
import typing
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from leveraudit.lazy import cst

from leveraudit.extract.sparse import sparse_source

DefNode = "cst.FunctionDef | cst.ClassDef"   # for annotations (strings here): libcst is imported on first use


@dataclass(frozen=True)
class ParseFailure:
    rel: str
    line: int
    column: int
    message: str


# Tables of libcst's node types are built on first use (leveraudit/lazy.py: a warm run never imports libcst).
class _SyntacticLines:
    """libcst's `record_syntactic_position` (a generator context manager, entered for most nodes), as
    a plain class: the same (start line, end line), hoisted from `start_node` / `end_node` alike."""

    __slots__ = ("state", "node", "start_node", "end_node", "start")

    def __init__(self, state, node, start_node, end_node) -> None:
        self.state, self.node, self.start_node, self.end_node = state, node, start_node, end_node

    def __enter__(self) -> None:
        self.start = self.state.line

    def __exit__(self, *exc) -> bool:
        computed = self.state.provider._computed
        start = computed[id(self.start_node)][0] if self.start_node is not None else self.start
        end = computed[id(self.end_node)][1] if self.end_node is not None else self.state.line
        computed[id(self.node)] = (start, end)
        return False


@functools.cache
def _line_codegen_state() -> type:
    class _LineCodegenState(cst.metadata.position_provider.PositionProvidingCodegenState):
        """libcst's syntactic positions, counting lines only: we report lines, never columns. Positions
        are `(start line, end line)` keyed by node id in `provider._computed`; skipping the per-token
        column arithmetic, libcst's position objects and its context managers (and the metadata
        wrapper) takes most of the cost of positions away (tests/test_positions.py compares every
        node with libcst's own provider)."""

        def _update_position(self, value: str) -> None:
            if "\n" in value:
                self.line += value.count("\n")

        def before_codegen(self, node) -> None:
            self._stack.append(self.line)

        def after_codegen(self, node) -> None:
            start = self._stack.pop()
            computed = self.provider._computed
            if id(node) not in computed:   # a syntactic position recorded inside wins, as in libcst
                computed[id(node)] = (start, self.line)

        def record_syntactic_position(self, node, *, start_node=None, end_node=None) -> _SyntacticLines:
            return _SyntacticLines(self, node, start_node, end_node)
    return _LineCodegenState


class _Positions:
    """What a codegen state writes positions to (libcst's provider, less everything but the table)."""

    def __init__(self) -> None:
        self._computed: dict[int, tuple[int, int]] = {}


@functools.cache
def _source_order() -> dict[type, tuple[str, ...]]:
    """Children in source order. Dataclass field order is source order for most nodes; these differ."""
    return {
        cst.FunctionDef: ("decorators", "name", "params", "returns", "body"),
        cst.ClassDef: ("decorators", "name", "bases", "keywords", "body"),
        cst.IfExp: ("body", "test", "orelse"),
        cst.Arg: ("keyword", "value"),
        cst.ExceptHandler: ("type", "name", "body"),
        cst.MatchCase: ("pattern", "guard", "body"),
        cst.ImportFrom: ("module", "names"),
    }


@functools.cache
def _token_bases() -> tuple[type, ...]:
    """Whitespace, punctuation and operators carry no meaning a check asks about; leaving them out of the
    index makes every walk shorter. (Operators stay reachable as fields: `node.operator`.)"""
    return (cst.BaseParenthesizableWhitespace, cst.EmptyLine, cst.TrailingWhitespace, cst.Newline, cst.Comma,
            cst.Semicolon, cst.AssignEqual, cst.Dot, cst.LeftParen, cst.RightParen, cst.LeftSquareBracket,
            cst.RightSquareBracket, cst.LeftCurlyBrace, cst.RightCurlyBrace, cst.Colon, cst.ImportStar,
            cst.BaseBinaryOp, cst.BaseBooleanOp, cst.BaseCompOp, cst.BaseUnaryOp, cst.BaseAugOp)


_FIELDS: dict[type, tuple[str, ...]] = {}


def _token_only(annotation: Any) -> bool:
    """Whether a field's declared type admits tokens only (whitespace, punctuation, strings, sentinels):
    such a field never holds a node the index keeps, so the index does not even read it (two fields
    in three)."""
    args = typing.get_args(annotation)
    if args:
        return typing.get_origin(annotation) is typing.Literal or all(_token_only(a) for a in args)
    if annotation in (str, bool, int, float, type(None)) or annotation is cst.MaybeSentinel:
        return True
    return isinstance(annotation, type) and issubclass(annotation, _token_bases())


def _child_fields(kind: type) -> tuple[str, ...]:
    """The fields of a node type that may hold indexed nodes, in source order."""
    fields = _FIELDS.get(kind)
    if fields is None:
        import dataclasses

        declared = {f.name: f.type for f in dataclasses.fields(kind)}
        fields = _source_order().get(kind) or tuple(declared)
        fields = tuple(f for f in fields if f in declared and not _token_only(declared[f]))
        _FIELDS[kind] = fields
    return fields


_NOT_A_NODE, _INDEXED, _TOKEN = 0, 1, 2
_KINDS: dict[type, int] = {}   # type -> one of the above; `isinstance` against libcst's ABCs is slow


def _kind_of(kind: type) -> int:
    found = _KINDS.get(kind)
    if found is None:
        if not issubclass(kind, cst.CSTNode):
            found = _NOT_A_NODE
        else:
            found = _TOKEN if issubclass(kind, _token_bases()) else _INDEXED
        _KINDS[kind] = found
    return found


_GETTERS: dict[type, Any] = {}   # type -> its child fields' values in one call (False: no such field)


def _field_values(kind: type):
    """A function from a node of `kind` to the values of its child fields (`_child_fields`), as a tuple:
    `operator.attrgetter` reads them all in one call, a third of the index pass's time otherwise."""
    fields = _child_fields(kind)
    if not fields:
        values = False
    elif len(fields) == 1:
        single = operator.attrgetter(fields[0])
        values = lambda node: (single(node),)   # noqa: E731 - one field: attrgetter returns no tuple
    else:
        values = operator.attrgetter(*fields)
    _GETTERS[kind] = values
    return values


def _index(module: "ParsedModule", tree: cst.Module) -> None:
    """One iterative pre-order pass: parents, children, order, nodes by type, defs, calls, imports."""
    parents, children, order, by_type = module.parents, module.children, module.order, module.by_type
    kinds, kind_of, getters = _KINDS, _kind_of, _GETTERS
    defs, calls = module.defs, module.calls
    function_def, class_def, call, import_, import_from = cst.FunctionDef, cst.ClassDef, cst.Call, cst.Import, cst.ImportFrom
    sequences = (list, tuple)
    stack: list[cst.CSTNode] = [tree]
    pop, extend = stack.pop, stack.extend
    position = 0
    while stack:
        node = pop()
        key = id(node)
        order[key] = position
        position += 1
        kind = type(node)
        same = by_type.get(kind)
        if same is None:
            by_type[kind] = [node]
        else:
            same.append(node)
        if kind is function_def or kind is class_def:
            defs.append(node)
        elif kind is call:
            calls.append(node)
        elif kind is import_ or kind is import_from:
            _record_import(module, node)
        values = getters.get(kind)
        if values is None:
            values = _field_values(kind)
        if values is False:
            continue
        below = []
        for value in values(node):
            value_kind = kinds.get(type(value))
            if value_kind is None:
                value_kind = kind_of(type(value))
            if value_kind == _INDEXED:
                below.append(value)
            elif value_kind == _NOT_A_NODE and type(value) in sequences:
                for item in value:
                    item_kind = kinds.get(type(item))
                    if item_kind is None:
                        item_kind = kind_of(type(item))
                    if item_kind == _INDEXED:
                        below.append(item)
        if below:
            children[key] = below
            for child in below:
                parents[id(child)] = node
            extend(reversed(below))


def _record_import(module: "ParsedModule", node) -> None:
    if isinstance(node, cst.Import):
        for alias in node.names:
            full = dotted_name(alias.name)
            if alias.asname is not None:
                module.aliases[dotted_name(alias.asname.name)] = full
            else:
                head = full.split(".")[0]
                module.aliases.setdefault(head, head)
    elif not isinstance(node.names, cst.ImportStar):
        base = ("." * len(node.relative)) + (dotted_name(node.module) if node.module else "")
        for alias in node.names:
            name = dotted_name(alias.name)
            local = dotted_name(alias.asname.name) if alias.asname is not None else name
            module.aliases[local] = f"{base}.{name}" if base and not base.endswith(".") else f"{base}{name}"


def _name_on_keyword_line(statement) -> bool:
    """Whether a `def` / `class` statement's name is on its keyword's line (the line `ast` gives the
    statement; `async` for `async def`): only a backslash continuing the line between them moves it."""
    kind = type(statement)
    if kind is cst.FunctionDef:
        spaces = [statement.whitespace_after_def]
        if statement.asynchronous is not None:
            spaces.append(statement.asynchronous.whitespace_after)
    elif kind is cst.ClassDef:
        spaces = [statement.whitespace_after_class]
    else:
        return False
    return all("\\" not in space.value for space in spaces)


class _Unpaired(Exception):
    """libcst's and ast's statements do not line up (a syntax one parser reads and the other does not)."""


@functools.cache
def _compound() -> dict[type, type | tuple]:
    """libcst's compound statements and the `ast` statements they pair with."""
    return {cst.If: ast.If, cst.For: (ast.For, ast.AsyncFor), cst.While: ast.While, cst.With: (ast.With, ast.AsyncWith),
            cst.FunctionDef: (ast.FunctionDef, ast.AsyncFunctionDef), cst.ClassDef: ast.ClassDef,
            cst.Try: ast.Try, cst.Match: getattr(ast, "Match", ()), cst.TryStar: getattr(ast, "TryStar", ())}


def _inside_body(module: "ParsedModule", node: cst.CSTNode, statement) -> bool:
    """Whether `node` lies in the statement's body or `else` part rather than its header."""
    body, orelse = statement.body, getattr(statement, "orelse", None)
    current = node
    while current is not None and current is not statement:
        if current is body or current is orelse:
            return True
        current = module.parents.get(id(current))
    return False


def _last_block(statement) -> cst.IndentedBlock | None:
    """The indented block a compound statement ends with (its `else`, the last `elif`'s), or None when
    some part of it is not an indented block with statements."""
    while True:
        orelse = getattr(statement, "orelse", None)
        if isinstance(orelse, cst.If):
            statement = orelse
            continue
        block = orelse.body if isinstance(orelse, cst.Else) else statement.body
        return block if isinstance(block, cst.IndentedBlock) and block.body else None


@functools.cache
def _headers() -> dict[type, dict[str, Any]]:
    """Compound statements whose header can be generated alone: (the parts dropped with the body)."""
    return {cst.FunctionDef: {}, cst.ClassDef: {}, cst.With: {},
            cst.If: {"orelse": None}, cst.For: {"orelse": None}, cst.While: {"orelse": None}}


def _pair_level(statements, nodes: list, paired: dict[int, ast.stmt], one_line: set[int]) -> None:
    """Pair one statement list of libcst's with ast's, side by side, recording each libcst statement's
    ast statement (for a simple statement line, its first) and, in `one_line`, the simple statement
    lines that fit on one line. Nothing below this level is visited: that is done on demand."""
    index = 0
    for statement in statements:
        if index >= len(nodes):
            raise _Unpaired
        if type(statement) is cst.SimpleStatementLine:
            count = len(statement.body)   # `a = 1; b = 2` is one libcst line, two ast statements
            if index + count > len(nodes):
                raise _Unpaired
            paired[id(statement)] = nodes[index]
            if nodes[index].lineno == nodes[index + count - 1].end_lineno:
                one_line.add(id(statement))
            index += count
            continue
        node = nodes[index]
        index += 1
        expected = _compound().get(type(statement))
        if expected is None or not isinstance(node, expected):
            raise _Unpaired
        paired[id(statement)] = node
    if index != len(nodes):
        raise _Unpaired


def _inner_levels(statement, node: ast.stmt) -> list[tuple[Any, list]]:
    """The statement lists directly inside a compound statement, each with ast's."""
    if isinstance(node, ast.If):
        levels = [(statement.body, node.body)]
        if isinstance(statement.orelse, cst.If):           # elif: the ast If in orelse
            return _blocks(levels) + [([statement.orelse], node.orelse)]
        if statement.orelse is not None:
            levels.append((statement.orelse.body, node.orelse))
    elif isinstance(statement, cst.Match):
        levels = [(case.body, ast_case.body) for case, ast_case in zip(statement.cases, node.cases, strict=True)]
    else:
        levels = [(statement.body, node.body)]
        levels += [(handler.body, ast_handler.body) for handler, ast_handler
                   in zip(getattr(statement, "handlers", ()), getattr(node, "handlers", ()), strict=True)]
        for part in ("orelse", "finalbody"):
            clause = getattr(statement, part, None)
            if clause is not None:
                levels.append((clause.body, getattr(node, part)))
    return _blocks(levels)


def _blocks(levels: list[tuple[Any, list]]) -> list[tuple[Any, list]]:
    # a body on the header's line (`if x: return`) is no level: nothing in it needs an anchor of its own
    return [(suite.body, nodes) for suite, nodes in levels if isinstance(suite, cst.IndentedBlock)]


def dotted_name(node: cst.CSTNode | None) -> str:
    if isinstance(node, cst.Name):
        return node.value
    if isinstance(node, cst.Attribute):
        left = dotted_name(node.value)
        return f"{left}.{node.attr.value}" if left else ""
    return ""


def _plain_chain(node: cst.CSTNode) -> str | None:
    """The code of a name chain written without parentheses or spaces around its dots (exactly what
    libcst would generate for it), without generating code; None for any other node."""
    names = []
    while type(node) is cst.Attribute:
        before, after = node.dot.whitespace_before, node.dot.whitespace_after
        if node.lpar or type(before) is not cst.SimpleWhitespace or before.value \
                or type(after) is not cst.SimpleWhitespace or after.value:
            return None
        names.append(node.attr.value)
        node = node.value
    if type(node) is not cst.Name or node.lpar:
        return None
    names.append(node.value)
    return ".".join(reversed(names))


class ParsedModule:
    def __init__(self, rel: str, text: str, tree: cst.Module, statements: list[ast.stmt] | None = None,
                 blanked: int = 0, line_map: list[int] | None = None) -> None:
        self.rel = rel
        self.text = text   # what was parsed: with sparse parsing, without the unneeded definitions' lines
        self.tree = tree
        self.blanked = blanked   # definitions (top-level, or methods of a kept class) sparse parsing left out
        self._ast_statements = statements   # CPython's statements of the file, when already parsed
        self._line_map = line_map           # line of `text` -> line of the file (sparse parsing removed some)
        self.parents: dict[int, cst.CSTNode] = {}
        # libcst's `node.children` re-visits the subtree on every access; index it once instead
        self.children: dict[int, list[cst.CSTNode]] = {}
        self.order: dict[int, int] = {}
        self.by_type: dict[type, list[cst.CSTNode]] = {}
        self.defs: list[DefNode] = []
        self.calls: list[cst.Call] = []
        self.aliases: dict[str, str] = {}
        self._positions: Any = None          # id(statement) -> libcst positions of its subtree
        self._anchors: Any = None            # id(statement) -> its ast statement, paired on demand; False: unpaired
        self._expanded: set[int] = set()     # compound statements whose inner statement lists are paired
        self._words: dict[int, frozenset[str]] = {}
        self._type_orders: dict[type, list[int]] = {}   # type -> the pre-order positions of its nodes
        self._one_line: set[int] = set()             # simple statements on one line: no codegen for lines
        self._headers: dict[int, cst.CSTNode] = {}   # id(compound statement) -> it without its body
        self._qualnames: dict[int, str] = {}
        self._models: dict[int, Any] = {}
        self.analysis_cache: dict[str, Any] = {}  # per-file memo of the analysis layer (class indexes, ...)
        _index(self, tree)
        self.constants = self._module_constants()

    # -- structure ---------------------------------------------------------------------
    def parent(self, node: cst.CSTNode) -> cst.CSTNode | None:
        return self.parents.get(id(node))

    def walk(self, node: cst.CSTNode) -> Iterator[cst.CSTNode]:
        """`node` and its descendants in source order."""
        stack = [node]
        children = self.children
        while stack:
            current = stack.pop()
            yield current
            below = children.get(id(current))
            if below:
                stack.extend(reversed(below))

    def descendants(self, node: cst.CSTNode, *types: type) -> list[cst.CSTNode]:
        """The nodes of exactly these types in `node`'s subtree (itself included), in source order.

        Read off the type index without walking: the index is in pre-order, so a subtree is the contiguous
        range from the node to its last descendant, and each type's nodes are found by bisection. Checks ask
        "which calls / raises / assignments are in this function" for every load and every guard."""
        start = self.order.get(id(node))
        if start is None:   # not in this module's index (a header copy, a pattern)
            from leveraudit.extract.pattern import walk

            return [n for n in walk(node) if type(n) in types]
        last, children = node, self.children
        below = children.get(id(last))
        while below:
            last = below[-1]
            below = children.get(id(last))
        end = self.order[id(last)]
        found: list[cst.CSTNode] = []
        for kind in types:
            nodes = self.by_type.get(kind)
            if not nodes:
                continue
            orders = self._type_orders.get(kind)
            if orders is None:
                order = self.order
                orders = self._type_orders[kind] = [order[id(n)] for n in nodes]
            found += nodes[bisect.bisect_left(orders, start):bisect.bisect_right(orders, end)]
        if len(types) > 1:
            found.sort(key=lambda n: self.order[id(n)])
        return found

    def nodes_of(self, types: set[type]) -> list[cst.CSTNode]:
        """Every node of exactly these types, in source order (a pattern search's candidates)."""
        found = [n for t in types for n in self.by_type.get(t, ())]
        if len(types) > 1:
            found.sort(key=lambda n: self.order[id(n)])
        return found

    def ancestors(self, node: cst.CSTNode) -> Iterator[cst.CSTNode]:
        current = self.parent(node)
        while current is not None:
            yield current
            current = self.parent(current)

    def qualname(self, definition: DefNode) -> str:
        key = id(definition)
        if key not in self._qualnames:
            names = [definition.name.value]
            names += [a.name.value for a in self.ancestors(definition) if isinstance(a, (cst.FunctionDef, cst.ClassDef))]
            self._qualnames[key] = ".".join(reversed(names))
        return self._qualnames[key]

    def enclosing_defs(self, node: cst.CSTNode) -> list[DefNode]:
        return [a for a in self.ancestors(node) if isinstance(a, (cst.FunctionDef, cst.ClassDef))]

    def enclosing_function(self, node: cst.CSTNode) -> cst.FunctionDef | None:
        for ancestor in self.ancestors(node):
            if isinstance(ancestor, cst.FunctionDef):
                return ancestor
        return None

    def function_model(self, function: cst.FunctionDef | None):
        """The CFG and data flow of a function (None: the module body), built on first use."""
        key = id(function) if function is not None else 0
        model = self._models.get(key)
        if model is None:
            from leveraudit.analysis.model import FunctionModel  # the analysis layer sits above this one

            model = self._models[key] = FunctionModel(self, function)
        return model

    def analysed_functions(self) -> int:
        return len(self._models)

    def release(self) -> None:
        """Drop the per-file analysis (function models and memos point back at this module: cycles).
        The audit runs with the cyclic collector paused, so without this every parsed tree would stay
        alive until the run ends; with it reference counting frees the tree as soon as the scan is done."""
        self._models.clear()
        self.analysis_cache.clear()

    def is_live(self, node: cst.CSTNode) -> bool:
        """False for code no path reaches (after a `return`, under `if False:`), in its function and
        in every enclosing function up to the module."""
        current = node
        while True:
            function = self.enclosing_function(current)
            if not self.function_model(function).is_live(current):
                return False
            if function is None:
                return True
            current = function

    def helper_owner(self, node: cst.CSTNode) -> str | None:
        """The name of the undecorated module-level function holding `node`, if any (methods,
        decorated functions such as CLI commands, and nested functions' outers are not helpers)."""
        outer = None
        for ancestor in self.ancestors(node):
            if isinstance(ancestor, cst.ClassDef):
                return None
            if isinstance(ancestor, cst.FunctionDef):
                outer = ancestor
        if outer is None or outer.decorators or self.parent(outer) is not self.tree:
            return None
        return outer.name.value

    def resolver(self):
        from leveraudit.analysis.model import Resolver

        return Resolver(self)

    def find_defs(self, globs: list[str], kind: type | tuple | None = None) -> list[DefNode]:
        kind = kind if kind is not None else (cst.FunctionDef, cst.ClassDef)
        return [d for d in self.defs if isinstance(d, kind) and qualname_matches(self.qualname(d), globs)]

    def is_inside(self, node: cst.CSTNode, globs: list[str] | None) -> bool:
        if not globs:
            return True
        return any(qualname_matches(self.qualname(d), globs) for d in self.enclosing_defs(node))

    def resolve(self, expr: cst.CSTNode) -> str:
        """The dotted name of an expression with its first part resolved through imports."""
        name = dotted_name(expr)
        if not name:
            return ""
        head, _, rest = name.partition(".")
        target = self.aliases.get(head)
        if target is None:
            return name
        return f"{target}.{rest}" if rest else target

    # -- positions ---------------------------------------------------------------------
    def lines(self, node: cst.CSTNode) -> tuple[int, int]:
        """libcst's syntactic (start, end) lines of a node, (0, 0) when it has none.

        libcst computes positions by generating the whole module's code, which costs more than the parse;
        evidence needs a handful of nodes per file. So `ast` (CPython's parser, parse only) gives the first
        line of every statement, and only the innermost statement around the node is generated, with
        libcst's own position rules. A tree `ast` cannot pair up falls back to the whole module."""
        found = self._anchor(node)
        if found is None:     # the module itself, a node outside every statement, or no pairing
            return self._lines_from(self.tree, node, 1)
        statement, first = found
        if id(statement) in self._one_line:   # everything in a one-line statement is on that line
            return first, first
        if statement is node and type(node) in _headers():
            last = _last_block(node)
            if last is not None:
                # libcst ends a compound statement where its last statement ends: no need to generate it
                return first, self.lines(last.body[-1])[1]
        if node is getattr(statement, "name", None) and _name_on_keyword_line(statement):
            return first, first   # a def's or class's own name (evidence of `param`, `guard`): no codegen at all
        dropped = _headers().get(type(statement))
        if dropped is not None and node is not statement and isinstance(statement.body, cst.IndentedBlock) \
                and not _inside_body(self, node, statement):
            # a parameter, a decorator, a base, an `if` test, a loop's iterable: generate the header alone
            # (the same child nodes, no body), not a body that may be the whole function
            header = self._headers.get(id(statement))
            if header is None:   # kept with the module: positions are keyed by the copy's id
                header = self._headers[id(statement)] = statement.with_changes(
                    body=cst.IndentedBlock(body=[]), **dropped)
            return self._lines_from(header, node, first)
        return self._lines_from(statement, node, first)

    def _lines_from(self, root: cst.CSTNode, node: cst.CSTNode, first_line: int) -> tuple[int, int]:
        computed = self._positions.get(id(root)) if self._positions is not None else None
        if computed is None:
            positions = _Positions()
            root._codegen(_line_codegen_state()(default_indent=self.tree.default_indent,
                                                default_newline=self.tree.default_newline, provider=positions))
            computed = positions._computed
            if self._positions is None:
                self._positions = {}
            self._positions[id(root)] = computed
        position, anchor = computed.get(id(node)), computed.get(id(root))
        if position is None:
            return (0, 0)
        if root is self.tree:   # lines of what was parsed: where sparse parsing removed lines, the file's
            line_map = self._line_map
            if not line_map:
                return position
            last = len(line_map)
            return line_map[min(position[0], last) - 1], line_map[min(position[1], last) - 1]
        # the generated statement starts with its leading comments: offset from where its own code starts
        shift = first_line - anchor[0]
        return position[0] + shift, position[1] + shift

    def _anchor(self, node: cst.CSTNode) -> tuple[cst.CSTNode, int] | None:
        """The innermost statement around `node` that `ast` pairs with, and its first line; None when
        none does (the module itself) or the two parsers' statements do not line up.

        Pairing is lazy: only the statement lists on the way down to `node` are paired, each once, so
        the evidence of a file costs its few paths, not a walk of every statement it has."""
        if self._anchors is False:
            return None
        chain = []
        current = node
        compound = _compound()
        while current is not None:
            kind = type(current)
            if kind is cst.SimpleStatementLine or kind in compound:
                chain.append(current)
            current = self.parents.get(id(current))
        if not chain:
            return None
        try:
            paired = self._anchors
            if paired is None:
                statements = self._ast_statements
                if statements is None:
                    statements = ast.parse(self.text).body
                paired = {}
                _pair_level(self.tree.body, statements, paired, self._one_line)
                self._anchors = paired
            found = None
            for statement in reversed(chain):   # from the module's level down
                ast_statement = paired.get(id(statement))
                if ast_statement is None:       # inside a body on its header's line
                    break
                found = statement, ast_statement.lineno
                if type(statement) is not cst.SimpleStatementLine and id(statement) not in self._expanded:
                    self._expanded.add(id(statement))
                    for inner, ast_inner in _inner_levels(statement, ast_statement):
                        _pair_level(inner, ast_inner, paired, self._one_line)
            return found
        except (SyntaxError, ValueError, RecursionError, MemoryError, _Unpaired):
            self._anchors = False
            return None

    def code(self, node: cst.CSTNode) -> str:
        kind = type(node)
        if kind is cst.Attribute or kind is cst.Name:   # `self.config.x`: most evidence, read off the chain
            plain = _plain_chain(node)
            if plain is not None:
                return plain
        return self.tree.code_for_node(node)

    def words(self, node: cst.CSTNode) -> frozenset[str]:
        """The identifiers and string literals in a subtree, collected once per node: checks ask whether
        a condition or a call mentions some names again and again over the same function."""
        found = self._words.get(id(node))
        if found is None:
            collected = set()
            for child in self.walk(node):
                kind = type(child)
                if kind is cst.Name:
                    collected.add(child.value)
                elif kind is cst.SimpleString:
                    value = string_value(child)
                    if isinstance(value, str):
                        collected.add(value)
            found = self._words[id(node)] = frozenset(collected)
        return found

    def callee_text(self, func: cst.CSTNode, limit: int = 200) -> str:
        """How a call's callee is written: `self.model.load_state_dict` read off the name chain without
        generating code (every call of every file asks), the generated snippet for anything else."""
        return dotted_name(func) or self.snippet(func, limit)

    def snippet(self, node: cst.CSTNode, limit: int = 160) -> str:
        text = " ".join(self.code(node).strip().split())
        return text if len(text) <= limit else text[: limit - 1] + "…"

    # -- literal values ----------------------------------------------------------------
    def _module_constants(self) -> dict[str, cst.BaseExpression]:
        constants: dict[str, cst.BaseExpression] = {}
        for statement in self.tree.body:
            if isinstance(statement, cst.SimpleStatementLine):
                for small in statement.body:
                    if isinstance(small, cst.Assign) and len(small.targets) == 1:
                        target = small.targets[0].target
                        if isinstance(target, cst.Name):
                            constants[target.value] = small.value
                    elif isinstance(small, cst.AnnAssign) and isinstance(small.target, cst.Name) and small.value:
                        constants[small.target.value] = small.value
        return constants

    def literal(self, node: cst.CSTNode | None) -> tuple[bool, Any]:
        """(known, value) for a literal expression, following module constants; never evaluates code."""
        return literal_value(node, self.constants)


def qualname_matches(qualname: str, globs: list[str]) -> bool:
    return any(fnmatch.fnmatchcase(qualname, g) or fnmatch.fnmatchcase(qualname, "*." + g) for g in globs)


_NAMED = {"True": True, "False": False, "None": None}


def string_value(node: cst.SimpleString) -> str | bytes | None:
    """`node.evaluated_value` without its cost where nothing needs evaluating: libcst runs
    `ast.literal_eval` (a compile) for every string it is asked about; most have no escape."""
    raw = node.value
    quote_at = 0
    while quote_at < len(raw) and raw[quote_at] not in "'\"":
        quote_at += 1
    prefix, body = raw[:quote_at].lower(), raw[quote_at:]
    if "b" in prefix or "f" in prefix or "\\" in body:
        return node.evaluated_value
    quote = body[:3] if body[:3] in ('"""', "'''") else body[:1]
    return body[len(quote):-len(quote)] if len(body) >= 2 * len(quote) else node.evaluated_value


def literal_value(node: cst.CSTNode | None, constants: dict | None = None, depth: int = 0) -> tuple[bool, Any]:
    if node is None or depth > 8:
        return False, None
    if isinstance(node, cst.Integer) or isinstance(node, cst.Float):
        return True, _number(node.value)
    if isinstance(node, cst.SimpleString):
        value = string_value(node)
        return (value is not None), value
    if isinstance(node, cst.ConcatenatedString):
        value = node.evaluated_value
        return (value is not None), value
    if isinstance(node, cst.Name):
        if node.value in _NAMED:
            return True, _NAMED[node.value]
        if constants and node.value in constants:
            return literal_value(constants[node.value], constants, depth + 1)
        return False, None
    if isinstance(node, cst.UnaryOperation) and isinstance(node.operator, (cst.Minus, cst.Plus)):
        known, value = literal_value(node.expression, constants, depth + 1)
        if known and isinstance(value, (int, float)) and not isinstance(value, bool):
            return True, -value if isinstance(node.operator, cst.Minus) else value
        return False, None
    if isinstance(node, (cst.List, cst.Tuple, cst.Set)):
        values = []
        for element in node.elements:
            if not isinstance(element, cst.Element):
                return False, None
            known, value = literal_value(element.value, constants, depth + 1)
            if not known:
                return False, None
            values.append(value)
        return True, values
    return False, None


def _number(text: str) -> int | float:
    cleaned = text.replace("_", "").lower()
    try:
        if cleaned.startswith(("0x", "0o", "0b")):
            return int(cleaned, 0)
        return int(cleaned)
    except ValueError:
        pass
    try:
        return float(cleaned)
    except ValueError:
        return float("nan")


MAX_NESTING = 100  # brackets open at once; libcst's native parser crashes (SIGSEGV) far deeper
MAX_OPERATORS = 1000  # binary operators in one logical line; libcst's time grows with the square of the chain
# a string literal's body, from its opening quote: triple-quoted (across lines, to the first closing triple)
# or on one line with escapes (a prefix, `rb"..."`, ends where the same body does: a backslash keeps the
# quote in raw strings too). Written as "unrolled loops" (a run of plain characters, then one special
# character and another run, repeated), never an alternation or a lazy `[\s\S]*?` tried per character:
# the same matches, a third less time over a corpus (tests/test_prefilter.py compares with the plain form)
_STRING_BODY = (r'"""[^"]*(?:"(?!"")[^"]*)*"""|' r"'''[^']*(?:'(?!'')[^']*)*'''|"
                r'"[^"\\\n]*(?:\\.[^"\\\n]*)*"|' r"'[^'\\\n]*(?:\\.[^'\\\n]*)*'")
# the lookahead on a token's possible first characters lets the engine skip the rest (findall twice as fast)
_SHAPE = re.compile(r"(?=[-()\[\]{}\n+*/%|&^@ao])(?:[()\[\]{}\n]|[-+*/%|&^@]|\b(?:and|or)\b)")
_OPERATOR_CHARACTERS = "-+*/%|&^@"
_NOT_BRACKET = re.compile(r"[^()\[\]{}]+")
# every ASCII character but a bracket deleted, every bracket made `(` or `)` (the scan below does not pair
# kinds either): one C pass, a third of a regex's time; what is not ASCII is left to `_NOT_BRACKET`
_ONLY_BRACKETS = str.maketrans({**{chr(c): None for c in range(128) if chr(c) not in "()[]{}"},
                                "[": "(", "{": "(", "]": ")", "}": ")"})


# strings and comments, found from their quote or hash: the leading lookahead lets the regex engine skip to
# those characters (without it, it tried every alternative at every position: 30% slower on transformers)
_STRING_OR_COMMENT = re.compile(rf'(?=["\'#])(?:(?P<string>{_STRING_BODY})|#[^\n]*)')


def _blank(match: re.Match) -> str:
    # called for every string and comment of every file the exact pre-filter stage reads: plain indexing
    text, start = match.string, match.start()
    if text[start] == "#":   # a comment (a string starts with its quote)
        return " "
    if (start > 0 and text[start - 1] in "fF") or (start > 1 and text[start - 2] in "fF"):
        return match.group(0)     # `f"`, `rf"`, `Fr'`: an f-string's fields are code, kept whole (so is
    return " "                    # the string after `if "`, which is safe: keeping more never loses a file


def code_text(text: str) -> str:
    """The file with its comments and (non-f) string literals blanked out: what is left is code."""
    return _STRING_OR_COMMENT.sub(_blank, text)


def without_strings_and_comments(text: str) -> str:
    """Every string literal (f-strings too) and comment replaced by a space: what the limits count."""
    return _STRING_OR_COMMENT.sub(" ", text)


def too_complex(text: str) -> str | None:
    """Why a source must not reach libcst's parser (nesting it cannot survive, chains it takes minutes
    over), decided on the code with strings and comments removed; None when it is fine."""
    code = without_strings_and_comments(text)
    if _clearly_fine(code):
        return None
    return _shape_limits(code)


def _clearly_fine(code: str) -> bool:
    """A C-speed proof that `_shape_limits` would find nothing, for nearly every file: all of the file's
    operators fit in one logical line's limit (an upper bound: `and` / `or` counted as substrings), and
    its brackets pair up with no more than the limit open at once, counted by removing innermost pairs
    `()` one layer per pass (a balanced sequence loses a layer per pass). Anything else, unbalanced
    brackets included, goes to the exact scan."""
    operators = sum(code.count(c) for c in _OPERATOR_CHARACTERS) + code.count("and") + code.count("or")
    if operators > MAX_OPERATORS:
        return False
    brackets = code.translate(_ONLY_BRACKETS)
    if not brackets.isascii():
        brackets = _NOT_BRACKET.sub("", brackets)
    for _ in range(MAX_NESTING):
        if "()" not in brackets:
            break
        brackets = brackets.replace("()", "")
    return not brackets


def _shape_limits(code: str) -> str | None:
    """The exact scan: the most brackets open at once (a closing bracket with none open is ignored) and
    the most binary operators in one logical line (a newline outside brackets ends one)."""
    depth = deepest = operators = most = 0
    for token in _SHAPE.findall(code):
        if token in "([{":
            depth += 1
            deepest = max(deepest, depth)
        elif token in ")]}":
            depth = max(depth - 1, 0)
        elif token == "\n":
            if depth == 0:
                most, operators = max(most, operators), 0
        else:
            operators += 1
    most = max(most, operators)
    if deepest > MAX_NESTING:
        return f"too deeply nested to analyse ({deepest} brackets open at once; the limit is {MAX_NESTING})"
    if most > MAX_OPERATORS:
        return f"expression too long to analyse ({most} operators in one statement; the limit is {MAX_OPERATORS})"
    return None


_UNVALIDATED = threading.Lock()


@functools.cache
def validating_post_init():
    """libcst's own `CSTNode.__post_init__`, read before the first parse replaces it."""
    return cst.CSTNode.__dict__["__post_init__"]


def _no_validation(self) -> None:
    pass


def parse_unvalidated(text: str) -> cst.Module:
    """`libcst.parse_module` without libcst's per-node `_validate()`.

    Every node libcst's parser builds runs `__post_init__ -> _validate()`, checks meant for trees built by
    hand (libcst's own comment calls it a PERF problem at parse time); the parser's output is valid by
    construction, and skipping them takes about 14% off the parse. Validation is switched off only for the
    parse, under a lock, and restored even when the parse fails (tested); a node built by another thread
    during that window goes unvalidated, which only matters for trees built by hand."""
    validating = validating_post_init()
    with _UNVALIDATED:
        cst.CSTNode.__post_init__ = _no_validation
        try:
            return cst.parse_module(text)
        finally:
            cst.CSTNode.__post_init__ = validating


def parse_module(rel: str, text: str, wanted: Callable[[str], bool] | None = None,
                 split_classes: bool = False, follow_names: bool = True,
                 drop_imports: bool = False) -> ParsedModule | ParseFailure:
    """The file's tree, or why it has none. With `wanted` (a test of a top-level definition's text),
    definitions no check can look at are left out of the parse (`extract/sparse.py`); the limits and
    any syntax error are still decided on the whole file."""
    reason = too_complex(text)
    if reason is not None:
        return ParseFailure(rel, 1, 1, reason)
    sparse = sparse_source(text, wanted, split_classes, follow_names, drop_imports) if wanted is not None else None
    statements = None
    if sparse is not None and sparse.line_map is not None:   # something was left out
        try:
            return ParsedModule(rel, sparse.text, parse_unvalidated(sparse.text), sparse.body, sparse.blanked,
                                sparse.line_map)
        except (cst.ParserSyntaxError, RecursionError, MemoryError, ValueError):
            pass   # the whole file decides, below, exactly as without sparse parsing
    elif sparse is not None:
        statements = sparse.body
    try:
        tree = parse_unvalidated(text)
    except cst.ParserSyntaxError as exc:
        line, column = exc.raw_line, exc.raw_column + 1
        message = exc.message.splitlines()[0] if exc.message else "syntax error"
        try:  # CPython's parser (parse only, nothing runs) pins the position more precisely
            ast.parse(text, filename=rel)
        except SyntaxError as precise:
            line, column = precise.lineno or line, precise.offset or column
            message = precise.msg or message
        except (ValueError, RecursionError, MemoryError):
            pass
        return ParseFailure(rel, line, column, message)
    except (RecursionError, MemoryError, ValueError) as exc:
        return ParseFailure(rel, 1, 1, f"cannot parse: {type(exc).__name__}")
    try:
        return ParsedModule(rel, text, tree, statements)
    except RecursionError:
        return ParseFailure(rel, 1, 1, "too deeply nested to analyse")
