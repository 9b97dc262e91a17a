"""`FunctionModel`: the CFG and reaching definitions of one function, built on first use and
cached on the parsed module, and the `Resolver` through which patterns follow values.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable

from leveraudit.lazy import cst

from leveraudit.analysis.cfg import CFG, ENTRY, RAISE, RETURN
from leveraudit.analysis.conditions import Assumption
from leveraudit.analysis.dataflow import Definition, ReachingDefinitions, access_path


def parameter_names(function: cst.FunctionDef) -> list[str]:
    params = function.params
    names = [p.name.value for p in (*params.posonly_params, *params.params, *params.kwonly_params)]
    for star in (params.star_arg, params.star_kwarg):
        if isinstance(star, cst.Param):
            names.append(star.name.value)
    return names


def _body(owner) -> list[cst.CSTNode]:
    if isinstance(owner, cst.Module):
        return list(owner.body)
    suite = owner.body
    return [suite] if isinstance(suite, cst.SimpleStatementSuite) else list(suite.body)


class FunctionModel:
    def __init__(self, module, function: cst.FunctionDef | None) -> None:
        self.module = module
        self.function = function
        self.cfg = CFG(_body(function if function is not None else module.tree))
        self._params = parameter_names(function) if function is not None else []
        self._reaching: ReachingDefinitions | None = None
        self._live: set[int] | None = None

    # -- locations ------------------------------------------------------------------------
    def node(self, cst_node: cst.CSTNode) -> int | None:
        return self.cfg.node_for(self.module, cst_node)

    def live(self) -> set[int]:
        """Nodes reachable from the entry (the rest is dead code)."""
        if self._live is None:
            self._live = self.cfg.reachable(ENTRY)
        return self._live

    def is_live(self, cst_node: cst.CSTNode) -> bool:
        index = self.node(cst_node)
        return index is None or index in self.live()

    # -- data flow ------------------------------------------------------------------------
    @property
    def reaching(self) -> ReachingDefinitions:
        if self._reaching is None:
            self._reaching = ReachingDefinitions(self.cfg, self._params)
        return self._reaching

    def definitions_at(self, cst_node: cst.CSTNode, key: str) -> list[Definition] | None:
        index = self.node(cst_node)
        if index is None:
            return None
        return self.reaching.reaching(index, key)

    def definitions_at_exit(self, key: str) -> list[Definition] | None:
        found: dict[int, Definition] = {}
        any_state = False
        for exit_node in (RETURN,):
            defs = self.reaching.reaching(exit_node, key)
            if defs is not None:
                any_state = True
                found.update({id(d): d for d in defs})
        return list(found.values()) if any_state else None

    # -- paths under a condition -------------------------------------------------------------
    def reach_under(self, assumption: Assumption, start: int = ENTRY, stop: Iterable[int] = (),
                    kills=None) -> set[int]:
        """Nodes that can run, starting at `start` with the assumption holding. A node for which
        `kills(index)` is true may change what the assumption talks about; after it the assumption
        may hold again whatever the earlier tests said."""
        cfg = self.cfg
        stopped = set(stop)
        feasible: dict[tuple[int, bool], bool] = {}

        def edge_ok(index: int, polarity: bool | None) -> bool:
            if polarity is None:
                return True
            key = (index, polarity)
            if key not in feasible:
                feasible[key] = assumption.feasible(cfg.nodes[index].test, polarity)
            return feasible[key]

        reached = {start}
        todo = [start]
        if kills is not None:
            for index in cfg.reachable(start, stop=stopped):
                if index != start and kills(index):
                    reached.add(index)
                    todo.append(index)
        while todo:
            current = todo.pop()
            if current in stopped and current != start:
                continue
            for target, polarity in cfg.nodes[current].succ:
                if target not in reached and edge_ok(current, polarity):
                    reached.add(target)
                    todo.append(target)
        return reached

    def kills_for(self, names: set[str]):
        """A `kills` predicate: the node assigns an access path ending in one of `names`."""
        reaching = self.reaching

        def kills(index: int) -> bool:
            return any(reaching.definitions[i].key.rsplit(".", 1)[-1] in names for i in reaching.gen[index])
        return kills


class Resolver:
    """Expands a name to the values that reach it, and a call of a one-line helper of the same
    module (or of `self`'s class) to its returned expression with the arguments substituted."""

    def __init__(self, module, depth: int = 3) -> None:
        self.module = module
        self.depth = depth
        self._active: set[int] = set()

    def expand(self, node: cst.CSTNode) -> list[cst.BaseExpression]:
        if id(node) in self._active or len(self._active) >= self.depth or id(node) not in self.module.parents:
            return []
        self._active.add(id(node))
        try:
            if isinstance(node, (cst.Name, cst.Attribute)):
                return self._values(node)
            if isinstance(node, cst.Call):
                return self._inline(node)
            return []
        finally:
            self._active.discard(id(node))

    def _values(self, node: cst.BaseExpression) -> list[cst.BaseExpression]:
        key = access_path(node)
        if not key or self._is_attribute_name(node):
            return []
        function = self.module.enclosing_function(node)
        model = self.module.function_model(function)
        defs = model.definitions_at(node, key)
        if defs is None:
            return []
        if not defs and key.startswith("self.") and function is not None:
            return self._class_values(function, key)
        return [d.value for d in defs if d.kind == "assign" and d.value is not None]

    def _is_attribute_name(self, node) -> bool:
        parent = self.module.parent(node)
        return isinstance(parent, cst.Attribute) and parent.attr is node

    def _class_values(self, function: cst.FunctionDef, key: str) -> list[cst.BaseExpression]:
        owner = self.module.parent(self.module.parent(function))
        if not isinstance(owner, cst.ClassDef):
            return []
        return [value for _, value in class_attribute_assignments(self.module, owner, key.split(".", 1)[1])]

    def _inline(self, call: cst.Call) -> list[cst.BaseExpression]:
        helper, receiver = self._helper(call)
        if helper is None:
            return []
        returned = single_return(helper)
        if returned is None:
            return []
        names = parameter_names(helper)
        mapping: dict[str, cst.BaseExpression] = {}
        if receiver is not None and names:
            mapping[names[0]] = receiver
            names = names[1:]
        positional = [a for a in call.args if a.keyword is None and not a.star]
        for name, arg in zip(names, positional):
            mapping[name] = arg.value
        for arg in call.args:
            if arg.keyword is not None and arg.keyword.value in names:
                mapping[arg.keyword.value] = arg.value
        return [returned.visit(_substitute()(mapping))]

    def _helper(self, call: cst.Call) -> tuple[cst.FunctionDef | None, cst.BaseExpression | None]:
        helper = local_callee(self.module, call)
        receiver = call.func.value if helper is not None and isinstance(call.func, cst.Attribute) else None
        return helper, receiver


def local_callee(module, call: cst.Call) -> cst.FunctionDef | None:
    """The function a call runs when it is one of this module's own: `helper(...)` for a module-level
    def, `self.method(...)` for a method of the enclosing class."""
    func = call.func
    if isinstance(func, cst.Name):
        functions = module.analysis_cache.get("functions by qualname")
        if functions is None:   # built once per file: every call of every check asks
            functions = {}
            for definition in module.defs:
                if isinstance(definition, cst.FunctionDef):
                    functions.setdefault(module.qualname(definition), definition)
            module.analysis_cache["functions by qualname"] = functions
        return functions.get(func.value)
    if isinstance(func, cst.Attribute) and isinstance(func.value, cst.Name) and func.value.value == "self":
        function = module.enclosing_function(call)
        owner = module.parent(module.parent(function)) if function is not None else None
        if isinstance(owner, cst.ClassDef):
            return next((s for s in owner.body.body if isinstance(s, cst.FunctionDef) and s.name.value == func.attr.value),
                        None)
    return None


def effective_values(module, expr: cst.BaseExpression, depth: int = 4) -> list[cst.BaseExpression]:
    """What an expression stands for where it is used: a name or attribute is replaced by the values
    of the assignments that reach it (each followed in turn), so `x = args.flag; f(k=x)` passes
    `args.flag`, and `args.flag = False` before `f(k=args.flag)` passes `False`. Names no local
    assignment reaches (parameters, loop targets, `args.x` never reassigned) stand for themselves."""
    if depth <= 0 or not isinstance(expr, (cst.Name, cst.Attribute)) or id(expr) not in module.parents:
        return [expr]
    key = access_path(expr)
    parent = module.parent(expr)
    if not key or (isinstance(parent, cst.Attribute) and parent.attr is expr):
        return [expr]
    defs = module.function_model(module.enclosing_function(expr)).definitions_at(expr, key)
    if not defs:
        return [expr]
    values: list[cst.BaseExpression] = []
    for definition in defs:
        if definition.kind == "assign" and definition.value is not None:
            values += effective_values(module, definition.value, depth - 1)
        else:
            values.append(expr)
    return values


def single_return(function: cst.FunctionDef) -> cst.BaseExpression | None:
    """The expression of a function whose body (docstring aside) is one `return <expr>`."""
    statements = _body(function)
    if statements and isinstance(statements[0], cst.SimpleStatementLine) and len(statements[0].body) == 1 and \
            isinstance(statements[0].body[0], cst.Expr) and isinstance(statements[0].body[0].value,
                                                                        (cst.SimpleString, cst.ConcatenatedString)):
        statements = statements[1:]
    if len(statements) != 1:
        return None
    line = statements[0]
    smalls = line.body if isinstance(line, (cst.SimpleStatementLine, cst.SimpleStatementSuite)) else []
    if len(smalls) == 1 and isinstance(smalls[0], cst.Return) and smalls[0].value is not None:
        return smalls[0].value
    return None


def class_attribute_assignments(module, owner: cst.ClassDef, name: str) -> list[tuple[cst.CSTNode, cst.BaseExpression]]:
    """Every `self.<name> = value` in the methods of a class, in source order (indexed once per class)."""
    cache = module.analysis_cache.setdefault("self-attributes", {})
    index = cache.get(id(owner))
    if index is None:
        index = cache[id(owner)] = {}
        for statement in owner.body.body:
            if not isinstance(statement, cst.FunctionDef):
                continue
            for node in module.descendants(statement.body, cst.Assign, cst.AnnAssign):
                if isinstance(node, cst.Assign):
                    for target in node.targets:
                        key = access_path(target.target)
                        if key.startswith("self.") and key.count(".") == 1:
                            index.setdefault(key[5:], []).append((node, node.value))
                elif isinstance(node, cst.AnnAssign) and node.value is not None:
                    key = access_path(node.target)
                    if key.startswith("self.") and key.count(".") == 1:
                        index.setdefault(key[5:], []).append((node, node.value))
    return index.get(name, [])


@functools.cache
def _substitute() -> type:
    class _Substitute(cst.CSTTransformer):
        """Replace parameter names by argument expressions (not attribute or keyword names)."""

        def __init__(self, mapping: dict[str, cst.BaseExpression]) -> None:
            self.mapping = mapping

        def leave_Name(self, original_node: cst.Name, updated_node: cst.Name):
            return self.mapping.get(original_node.value, updated_node)

        def leave_Attribute(self, original_node: cst.Attribute, updated_node: cst.Attribute):
            return updated_node.with_changes(attr=original_node.attr)

        def leave_Arg(self, original_node: cst.Arg, updated_node: cst.Arg):
            return updated_node.with_changes(keyword=original_node.keyword)
    return _Substitute   # a class built on first use: its base is libcst's (leveraudit/lazy.py)
