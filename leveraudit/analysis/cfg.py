"""A per-function control-flow graph over libcst statements.

Nodes are statements: one per simple-statement line (its first `return` / `raise` / `continue` /
`break` / `sys.exit()` ends it), one header per compound statement (`if` / `while` tests, `for`
headers, `with`, `try`, `except` clauses, `match` cases). Branch edges carry the test and the
polarity under which they are taken, so questions such as "can S run when C holds?" become
reachability with a condition (see `conditions`).

Approximations, all in the direction of "more paths": every statement of a `try` body may jump to
each of its handlers; a `return` inside `try` skips the `finally` block; a nested `def`/`class` is
one statement (its body is its own function).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from leveraudit.lazy import cst

from leveraudit.extract.module import dotted_name

ENTRY, RETURN, RAISE = 0, 1, 2
_EXIT_CALLS = {"sys.exit", "exit", "quit", "os._exit"}


@dataclass
class Node:
    index: int
    kind: str  # entry | return | raise | stmt | branch | loop | end | with | try | handler | case | def
    stmt: cst.CSTNode | None = None
    test: cst.BaseExpression | None = None
    succ: list[tuple[int, bool | None]] = field(default_factory=list)  # (target, polarity of `test`)

    def __repr__(self) -> str:  # pragma: no cover - debugging aid
        return f"Node({self.index}, {self.kind}, succ={self.succ})"


@dataclass
class _Loop:
    header: int
    after: int  # where `break` and the loop's exit go
    end: int = -1  # the body's normal end (falling off the last statement; `continue` skips it)
    body: int = -1  # the first node of the body


@dataclass
class _Context:
    loops: list[_Loop] = field(default_factory=list)
    handlers: list[int] = field(default_factory=list)  # where an exception raised here can go

    def inner(self, **changes) -> "_Context":
        return _Context(changes.get("loops", self.loops), changes.get("handlers", self.handlers))


def _is_constant(test: cst.BaseExpression, truth: bool) -> bool:
    if isinstance(test, cst.Name):
        return test.value == ("True" if truth else "False")
    if isinstance(test, cst.Integer):
        return (test.value not in ("0",)) == truth
    return False


def terminator(small: cst.BaseSmallStatement) -> str | None:
    if isinstance(small, cst.Return):
        return "return"
    if isinstance(small, cst.Raise):
        return "raise"
    if isinstance(small, cst.Continue):
        return "continue"
    if isinstance(small, cst.Break):
        return "break"
    if isinstance(small, cst.Expr) and isinstance(small.value, cst.Call) and dotted_name(small.value.func) in _EXIT_CALLS:
        return "raise"
    return None


class CFG:
    """The graph of one function body (or a module body). Built once, queried many times."""

    def __init__(self, body: Iterable[cst.CSTNode]) -> None:
        self.nodes: list[Node] = [Node(ENTRY, "entry"), Node(RETURN, "return"), Node(RAISE, "raise")]
        self.node_of: dict[int, int] = {}  # id(statement) -> node index
        self.loop_of: dict[int, _Loop] = {}  # id(For/While) -> its header and the node after it
        first = self._sequence(list(body), RETURN, _Context(handlers=[RAISE]))
        self.nodes[ENTRY].succ.append((first, None))
        self._preds: list[list[int]] | None = None

    # -- building (backwards: each statement is given the node that follows it) ---------------
    def _new(self, kind: str, stmt: cst.CSTNode | None, test: cst.BaseExpression | None = None) -> Node:
        node = Node(len(self.nodes), kind, stmt, test)
        self.nodes.append(node)
        if stmt is not None:
            self.node_of[id(stmt)] = node.index
        return node

    def _sequence(self, statements: list[cst.CSTNode], after: int, ctx: _Context) -> int:
        for statement in reversed(statements):
            after = self._statement(statement, after, ctx)
        return after

    def _block(self, suite: cst.BaseSuite, after: int, ctx: _Context) -> int:
        if isinstance(suite, cst.SimpleStatementSuite):
            return self._line(suite, suite.body, after, ctx)
        return self._sequence(list(suite.body), after, ctx)

    def _line(self, stmt: cst.CSTNode, smalls, after: int, ctx: _Context) -> int:
        node = self._new("stmt", stmt)
        ending = next((t for t in map(terminator, smalls) if t), None)
        if ending == "return":
            node.succ.append((RETURN, None))
        elif ending == "raise":
            node.succ.extend((h, None) for h in ctx.handlers)
        elif ending in ("continue", "break") and ctx.loops:
            loop = ctx.loops[-1]
            node.succ.append((loop.header if ending == "continue" else loop.after, None))
        else:
            node.succ.append((after, None))
        if ending != "raise" and ctx.handlers and ctx.handlers[0] != RAISE:
            node.succ.extend((h, None) for h in ctx.handlers)  # inside `try`: it may raise
        return node.index

    def _statement(self, stmt: cst.CSTNode, after: int, ctx: _Context) -> int:
        if isinstance(stmt, (cst.SimpleStatementLine, cst.SimpleStatementSuite)):
            return self._line(stmt, stmt.body, after, ctx)
        if isinstance(stmt, cst.If):
            return self._if(stmt, after, ctx)
        if isinstance(stmt, (cst.For, cst.While)):
            return self._loop(stmt, after, ctx)
        if isinstance(stmt, (cst.Try, getattr(cst, "TryStar", cst.Try))):
            return self._try(stmt, after, ctx)
        if isinstance(stmt, cst.With):
            node = self._new("with", stmt)
            node.succ.append((self._block(stmt.body, after, ctx), None))
            return node.index
        if isinstance(stmt, cst.Match):
            node = self._new("case", stmt)
            for case in stmt.cases:
                head = self._new("case", case)
                head.succ.append((self._block(case.body, after, ctx), None))
                node.succ.append((head.index, None))
            if not any(_irrefutable(c) for c in stmt.cases):
                node.succ.append((after, None))
            return node.index
        node = self._new("def" if isinstance(stmt, (cst.FunctionDef, cst.ClassDef)) else "stmt", stmt)
        node.succ.append((after, None))
        return node.index

    def _if(self, stmt: cst.If, after: int, ctx: _Context) -> int:
        node = self._new("branch", stmt, stmt.test)
        body = self._block(stmt.body, after, ctx)
        if isinstance(stmt.orelse, cst.If):
            orelse = self._if(stmt.orelse, after, ctx)
        elif isinstance(stmt.orelse, cst.Else):
            orelse = self._block(stmt.orelse.body, after, ctx)
        else:
            orelse = after
        if not _is_constant(stmt.test, False):
            node.succ.append((body, True))
        if not _is_constant(stmt.test, True):
            node.succ.append((orelse, False))
        return node.index

    def _loop(self, stmt: cst.For | cst.While, after: int, ctx: _Context) -> int:
        is_while = isinstance(stmt, cst.While)
        node = self._new("branch" if is_while else "loop", stmt, stmt.test if is_while else None)
        orelse = self._block(stmt.orelse.body, after, ctx) if stmt.orelse is not None else after
        end = self._new("end", None)
        end.succ.append((node.index, None))
        loop = _Loop(node.index, after, end.index)
        self.loop_of[id(stmt)] = loop
        body = self._block(stmt.body, end.index, ctx.inner(loops=[*ctx.loops, loop]))
        loop.body = body
        if is_while:
            if not _is_constant(stmt.test, False):
                node.succ.append((body, True))
            if not _is_constant(stmt.test, True):
                node.succ.append((orelse, False))
        else:
            node.succ.extend([(body, None), (orelse, None)])
        return node.index

    def _try(self, stmt, after: int, ctx: _Context) -> int:
        node = self._new("try", stmt)
        if stmt.finalbody is not None:
            after = self._block(stmt.finalbody.body, after, ctx)
        handlers = []
        for handler in stmt.handlers:
            head = self._new("handler", handler)
            head.succ.append((self._block(handler.body, after, ctx), None))
            handlers.append(head.index)
        orelse = self._block(stmt.orelse.body, after, ctx) if stmt.orelse is not None else after
        catches_all = any(h.type is None or dotted_name(h.type) in ("Exception", "BaseException") for h in stmt.handlers)
        targets = handlers + ([] if catches_all else list(ctx.handlers))
        body = self._block(stmt.body, orelse, ctx.inner(handlers=targets or list(ctx.handlers)))
        node.succ.append((body, None))
        return node.index

    # -- queries ------------------------------------------------------------------------------
    def node_for(self, module, cst_node: cst.CSTNode) -> int | None:
        """The CFG node of the statement that holds `cst_node` (a header for compound statements)."""
        current: cst.CSTNode | None = cst_node
        while current is not None:
            index = self.node_of.get(id(current))
            if index is not None:
                return index
            current = module.parent(current)
        return None

    def predecessors(self) -> list[list[int]]:
        if self._preds is None:
            preds: list[list[int]] = [[] for _ in self.nodes]
            for node in self.nodes:
                for target, _ in node.succ:
                    preds[target].append(node.index)
            self._preds = preds
        return self._preds

    def reachable(self, start: int = ENTRY, avoid: Iterable[int] = (), stop: Iterable[int] = ()) -> set[int]:
        """Nodes reachable from `start` without passing through `avoid`; `stop` nodes are reached
        but not left."""
        avoided, stopped = set(avoid), set(stop)
        seen = {start}
        todo = [start]
        while todo:
            current = todo.pop()
            if current in stopped and current != start:
                continue
            for target, _ in self.nodes[current].succ:
                if target not in seen and target not in avoided:
                    seen.add(target)
                    todo.append(target)
        return seen

    def statements_in(self, module, suite_owner: cst.CSTNode) -> Iterator[int]:
        """CFG nodes of the statements inside a compound statement (not counting nested defs)."""
        for descendant in module.walk(suite_owner):
            if descendant is suite_owner:
                continue
            index = self.node_of.get(id(descendant))
            if index is not None:
                yield index


def _irrefutable(case: cst.MatchCase) -> bool:
    pattern = case.pattern
    return case.guard is None and isinstance(pattern, cst.MatchAs) and pattern.pattern is None
