"""A parsed file: the libcst tree plus the small indexes every check shares.

One traversal records parents, definitions and import aliases. Positions (libcst's costly
metadata) are computed only when a check first reports a line.
"""

from __future__ import annotations

import ast
import fnmatch
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import libcst as cst
from libcst.metadata import PositionProvider
from libcst.metadata.position_provider import PositionProvidingCodegenState

DefNode = cst.FunctionDef | cst.ClassDef


@dataclass(frozen=True)
class ParseFailure:
    rel: str
    line: int
    column: int
    message: str


class _LineCodegenState(PositionProvidingCodegenState):
    """libcst's syntactic positions, counting lines only: we report lines, never columns, and skipping the
    per-token column arithmetic (and the metadata wrapper) halves the cost of positions."""

    def _update_position(self, value: str) -> None:
        if "\n" in value:
            self.line += value.count("\n")


# Children in source order. Dataclass field order is source order for most nodes; these differ.
_SOURCE_ORDER = {
    cst.FunctionDef: ("decorators", "name", "params", "returns", "body"),
    cst.ClassDef: ("decorators", "name", "bases", "keywords", "body"),
    cst.IfExp: ("body", "test", "orelse"),
    cst.Arg: ("keyword", "value"),
    cst.ExceptHandler: ("type", "name", "body"),
    cst.MatchCase: ("pattern", "guard", "body"),
    cst.ImportFrom: ("module", "names"),
}
# Whitespace, punctuation and operators carry no meaning a check asks about; leaving them out of the
# index makes every walk shorter. (Operators stay reachable as fields: `node.operator`.)
_TOKEN_BASES = (cst.BaseParenthesizableWhitespace, cst.EmptyLine, cst.TrailingWhitespace, cst.Newline, cst.Comma,
                cst.Semicolon, cst.AssignEqual, cst.Dot, cst.LeftParen, cst.RightParen, cst.LeftSquareBracket,
                cst.RightSquareBracket, cst.LeftCurlyBrace, cst.RightCurlyBrace, cst.Colon, cst.ImportStar,
                cst.BaseBinaryOp, cst.BaseBooleanOp, cst.BaseCompOp, cst.BaseUnaryOp, cst.BaseAugOp)
_FIELDS: dict[type, tuple[str, ...]] = {}


def _child_fields(kind: type) -> tuple[str, ...]:
    fields = _FIELDS.get(kind)
    if fields is None:
        import dataclasses

        names = [f.name for f in dataclasses.fields(kind)]
        fields = _SOURCE_ORDER.get(kind) or tuple(names)
        fields = tuple(f for f in fields if f in names)
        _FIELDS[kind] = fields
    return fields


def _index(module: "ParsedModule", tree: cst.Module) -> None:
    """One iterative pre-order pass: parents, children, order, nodes by type, defs, calls, imports."""
    parents, children, order, by_type = module.parents, module.children, module.order, module.by_type
    stack: list[tuple[cst.CSTNode, cst.CSTNode | None]] = [(tree, None)]
    while stack:
        node, parent = stack.pop()
        key = id(node)
        if parent is not None:
            parents[key] = parent
            children.setdefault(id(parent), []).append(node)
        order[key] = len(order)
        kind = type(node)
        by_type.setdefault(kind, []).append(node)
        if kind is cst.FunctionDef or kind is cst.ClassDef:
            module.defs.append(node)
        elif kind is cst.Call:
            module.calls.append(node)
        elif kind is cst.Import or kind is cst.ImportFrom:
            _record_import(module, node)
        below = []
        for name in _child_fields(kind):
            value = getattr(node, name)
            if isinstance(value, cst.CSTNode):
                if not isinstance(value, _TOKEN_BASES):
                    below.append(value)
            elif isinstance(value, (list, tuple)):
                below.extend(v for v in value if isinstance(v, cst.CSTNode) and not isinstance(v, _TOKEN_BASES))
        for child in reversed(below):
            stack.append((child, node))


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


def dotted_name(node: cst.CSTNode | None) -> str:
    if isinstance(node, cst.Name):
        return node.value
    if isinstance(node, cst.Attribute):
        left = dotted_name(node.value)
        return f"{left}.{node.attr.value}" if left else ""
    return ""


class ParsedModule:
    def __init__(self, rel: str, text: str, tree: cst.Module) -> None:
        self.rel = rel
        self.text = text
        self.tree = tree
        self.parents: dict[int, cst.CSTNode] = {}
        # libcst's `node.children` re-visits the subtree on every access; index it once instead
        self.children: dict[int, list[cst.CSTNode]] = {}
        self.order: dict[int, int] = {}
        self.by_type: dict[type, list[cst.CSTNode]] = {}
        self.defs: list[DefNode] = []
        self.calls: list[cst.Call] = []
        self.aliases: dict[str, str] = {}
        self._positions: Any = None
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

    def find_defs(self, globs: list[str], kind: type | tuple = (cst.FunctionDef, cst.ClassDef)) -> list[DefNode]:
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
        if self._positions is None:
            provider = PositionProvider()
            self.tree._codegen(_LineCodegenState(default_indent=self.tree.default_indent,
                                                 default_newline=self.tree.default_newline, provider=provider))
            self._positions = provider._computed
        position = self._positions.get(node)
        if position is None:
            return (0, 0)
        return position.start.line, position.end.line

    def code(self, node: cst.CSTNode) -> str:
        return self.tree.code_for_node(node)

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


def literal_value(node: cst.CSTNode | None, constants: dict | None = None, depth: int = 0) -> tuple[bool, Any]:
    if node is None or depth > 8:
        return False, None
    if isinstance(node, cst.Integer) or isinstance(node, cst.Float):
        return True, _number(node.value)
    if isinstance(node, (cst.SimpleString, cst.ConcatenatedString)):
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
_NOT_CODE = re.compile(r'[rRbBuUfF]{0,2}("""[\s\S]*?"""|\'\'\'[\s\S]*?\'\'\'|"(?:\\.|[^"\\\n])*"|\'(?:\\.|[^\'\\\n])*\')|#[^\n]*')
_SHAPE = re.compile(r"[()\[\]{}\n]|[-+*/%|&^@]|\b(?:and|or)\b")


def too_complex(text: str) -> str | None:
    """Why a source must not reach libcst's parser (nesting it cannot survive, chains it takes minutes
    over), decided by one scan of the code with strings and comments removed; None when it is fine."""
    depth = deepest = operators = most = 0
    for token in _SHAPE.findall(_NOT_CODE.sub(" ", text)):
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


def parse_module(rel: str, text: str) -> ParsedModule | ParseFailure:
    reason = too_complex(text)
    if reason is not None:
        return ParseFailure(rel, 1, 1, reason)
    try:
        tree = cst.parse_module(text)
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
        return ParsedModule(rel, text, tree)
    except RecursionError:
        return ParseFailure(rel, 1, 1, "too deeply nested to analyse")
