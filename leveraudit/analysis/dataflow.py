"""Reaching definitions on a CFG, for access paths: locals (`x`), attributes (`self.x`, `args.x`).

A definition of `a` kills every earlier definition of `a` and of the paths below it (`a.b`), so
`args = parser.parse_args()` starts `args.*` afresh and `trainer.flag = False` after
`trainer.flag = args.flag` means the flag no longer flows.
"""

from __future__ import annotations

from dataclasses import dataclass

from leveraudit.lazy import cst

from leveraudit.analysis.cfg import CFG, ENTRY
from leveraudit.extract.module import dotted_name

MAX_NODES = 4000  # larger functions are not analysed (their names simply do not resolve)


@dataclass(frozen=True)
class Definition:
    key: str  # access path: "x", "self.skip", "args.freeze"
    node: int  # CFG node
    kind: str  # assign | unpack | aug | param | loop | with | except | import | def | del
    value: cst.BaseExpression | None = None  # the assigned expression, when the kind is assign
    stmt: cst.CSTNode | None = None
    index: int | None = None  # unpack: position in the target tuple
    source: cst.BaseExpression | None = None  # unpack: the whole right-hand side


access_path = dotted_name  # "x", "self.skip", "args.freeze": the keys definitions are tracked by


def _target_defs(target: cst.BaseExpression, value: cst.BaseExpression | None, node: int, stmt) -> list[Definition]:
    if isinstance(target, (cst.Name, cst.Attribute)):
        key = access_path(target)
        return [Definition(key, node, "assign", value, stmt)] if key else []
    if isinstance(target, (cst.Tuple, cst.List)):
        elements = [e for e in target.elements]
        plain = all(isinstance(e, cst.Element) for e in elements)
        if plain and isinstance(value, (cst.Tuple, cst.List)) and len(value.elements) == len(elements) and all(
                isinstance(e, cst.Element) for e in value.elements):
            found = []
            for element, item in zip(elements, value.elements):
                found += _target_defs(element.value, item.value, node, stmt)
            return found
        found = []
        for position, element in enumerate(elements):
            inner = element.value
            key = access_path(inner)
            if key:
                found.append(Definition(key, node, "unpack", None, stmt, position if plain else None, value))
            elif isinstance(inner, (cst.Tuple, cst.List)):
                found += _target_defs(inner, None, node, stmt)
        return found
    if isinstance(target, cst.StarredElement):
        return _target_defs(target.value, None, node, stmt)
    return []


def _names_of(target: cst.CSTNode, node: int, kind: str, stmt) -> list[Definition]:
    return [Definition(d.key, node, kind, None, stmt) for d in _target_defs(target, None, node, stmt)]


def node_definitions(cfg: CFG, index: int, params: list[str]) -> list[Definition]:
    node = cfg.nodes[index]
    stmt = node.stmt
    if index == ENTRY:
        return [Definition(name, ENTRY, "param") for name in params]
    if node.kind == "stmt" and isinstance(stmt, (cst.SimpleStatementLine, cst.SimpleStatementSuite)):
        found: list[Definition] = []
        for small in stmt.body:
            if isinstance(small, cst.Assign):
                for target in small.targets:
                    found += _target_defs(target.target, small.value, index, stmt)
            elif isinstance(small, cst.AnnAssign) and small.value is not None:
                found += _target_defs(small.target, small.value, index, stmt)
            elif isinstance(small, cst.AugAssign):
                key = access_path(small.target)
                if key:
                    found.append(Definition(key, index, "aug", None, stmt))
            elif isinstance(small, (cst.Import, cst.ImportFrom)) and not isinstance(getattr(small, "names", None), cst.ImportStar):
                for alias in small.names:
                    name = alias.asname.name if alias.asname is not None else alias.name
                    key = access_path(name).split(".")[0]
                    if key:
                        found.append(Definition(key, index, "import", None, stmt))
            elif isinstance(small, cst.Del):
                found += _names_of(small.target, index, "del", stmt)
        return found
    if node.kind == "loop" and isinstance(stmt, cst.For):
        return [Definition(d.key, index, "loop", None, stmt, d.index, stmt.iter) for d in
                _target_defs(stmt.target, None, index, stmt)]
    if node.kind == "with" and isinstance(stmt, cst.With):
        found = []
        for item in stmt.items:
            if item.asname is not None:
                found += [Definition(d.key, index, "with", None, stmt, None, item.item)
                          for d in _target_defs(item.asname.name, None, index, stmt)]
        return found
    if node.kind == "handler" and isinstance(stmt, cst.ExceptHandler) and stmt.name is not None:
        return _names_of(stmt.name.name, index, "except", stmt)
    if node.kind == "def" and isinstance(stmt, (cst.FunctionDef, cst.ClassDef)):
        return [Definition(stmt.name.value, index, "def", None, stmt)]
    return []


def _kill(state: dict[str, frozenset], key: str) -> None:
    prefix = key + "."
    for existing in [k for k in state if k == key or k.startswith(prefix)]:
        del state[existing]


class ReachingDefinitions:
    def __init__(self, cfg: CFG, params: list[str]) -> None:
        self.cfg = cfg
        self.definitions: list[Definition] = []
        self.gen: list[list[int]] = []
        for index in range(len(cfg.nodes)):
            ids = []
            for definition in node_definitions(cfg, index, params):
                ids.append(len(self.definitions))
                self.definitions.append(definition)
            self.gen.append(ids)
        self.into: list[dict[str, frozenset] | None] = [None] * len(cfg.nodes)
        if len(cfg.nodes) <= MAX_NODES:
            self._solve()

    def _transfer(self, index: int, state: dict[str, frozenset]) -> dict[str, frozenset]:
        out = dict(state)
        for def_id in self.gen[index]:
            definition = self.definitions[def_id]
            _kill(out, definition.key)
            if definition.kind != "del":
                out[definition.key] = frozenset((def_id,))
        return out

    def _solve(self) -> None:
        preds = self.cfg.predecessors()
        order = _reverse_postorder(self.cfg)
        self.into[ENTRY] = {}
        out: list[dict[str, frozenset] | None] = [None] * len(self.cfg.nodes)
        changed = True
        rounds = 0
        while changed and rounds < 50:
            changed, rounds = False, rounds + 1
            for index in order:
                if index == ENTRY:
                    state: dict[str, frozenset] = {}
                else:
                    incoming = [out[p] for p in preds[index] if out[p] is not None]
                    if not incoming:
                        continue
                    state = dict(incoming[0])
                    for other in incoming[1:]:
                        for key, ids in other.items():
                            state[key] = state[key] | ids if key in state else ids
                self.into[index] = state
                new = self._transfer(index, state)
                if new != out[index]:
                    out[index] = new
                    changed = True

    def reaching(self, index: int, key: str) -> list[Definition] | None:
        """Definitions of `key` that reach the start of node `index`; None when the node is
        unreachable or the function was too large to analyse."""
        state = self.into[index]
        if state is None:
            return None
        return [self.definitions[i] for i in sorted(state.get(key, ()))]


def _reverse_postorder(cfg: CFG) -> list[int]:
    seen, order = {ENTRY}, []
    stack = [(ENTRY, iter(cfg.nodes[ENTRY].succ))]
    while stack:
        index, successors = stack[-1]
        advanced = False
        for target, _ in successors:
            if target not in seen:
                seen.add(target)
                stack.append((target, iter(cfg.nodes[target].succ)))
                advanced = True
                break
        if not advanced:
            stack.pop()
            order.append(index)
    return list(reversed(order))
