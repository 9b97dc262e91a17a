"""`branch`: an `if` on a condition selects one expression, else another (and the choice is used).

Accepts the expression form `a if cond else b` (and `b if not cond else a`) and the statement
form `if cond: x = a` / `else: x = b`. The condition and the arms follow values: `use_raw =
self.cfg.raw; if use_raw:` is a branch on `$T.raw`, and `r = batch["r"]; x = r.to(dev)` in an arm
contains `$B["r"]`. With `used_by` (callee globs), the selected value must reach an argument of
such a call (`loss(batch, x, t)` after `x = a if cond else b`): a selection computed and then not
passed on does not count.
"""

from __future__ import annotations

import fnmatch

from leveraudit.lazy import cst

from leveraudit.analysis.dataflow import access_path
from leveraudit.analysis.model import effective_values
from leveraudit.checks.base import FAIL, PASS, CheckKind, L, any_site_passes, evidence_for, pattern_words, text_has_all
from leveraudit.extract.pattern import compile_pattern, find, match, resolving


def _contains(module, pattern, node, depth: int = 3) -> bool:
    """The pattern occurs in `node`, or in the value of a name it uses (`x = r.to(dev)` with
    `r = batch["k"]` contains `$B["k"]`)."""
    if node is None:
        return False
    if next(find(pattern, node, module, follow_names=True), None) is not None:
        return True
    if depth <= 0:
        return False
    for name in module.walk(node):
        if isinstance(name, (cst.Name, cst.Attribute)) and not _is_store(module, name):
            for value in effective_values(module, name):
                if value is not name and _contains(module, pattern, value, depth - 1):
                    return True
    return False


def _is_store(module, node) -> bool:
    """Whether a name is (part of) an assignment target rather than a read."""
    for ancestor in module.ancestors(node):
        if isinstance(ancestor, (cst.AssignTarget, cst.CompFor)):
            return True
        if isinstance(ancestor, (cst.AugAssign, cst.AnnAssign)):
            return ancestor.target is node or any(n is node for n in module.walk(ancestor.target))
        if isinstance(ancestor, cst.BaseStatement):
            return False
    return False


def _assigned_name(module, node) -> list[tuple[str, cst.CSTNode]]:
    """(name, statement) pairs: what a selection is stored in."""
    if isinstance(node, cst.IfExp):
        parent = module.parent(node)
        while isinstance(parent, (cst.BaseExpression, cst.Arg, cst.Element, cst.Index, cst.SubscriptElement)):
            parent = module.parent(parent)  # (a if c else b).to(device): the statement stores it
        if isinstance(parent, (cst.Assign, cst.AnnAssign)):
            targets = [t.target for t in parent.targets] if isinstance(parent, cst.Assign) else [parent.target]
            return [(access_path(t), parent) for t in targets if access_path(t)]
        return []
    found = []
    for arm in (node.body, node.orelse.body):
        for statement in module.walk(arm):
            if isinstance(statement, cst.Assign):
                found += [(access_path(t.target), statement) for t in statement.targets if access_path(t.target)]
    return found


def _callee_matches(module, call: cst.Call, globs: list[str]) -> bool:
    name = module.resolve(call.func) or module.callee_text(call.func, 80)
    return any(fnmatch.fnmatchcase(name, g) or fnmatch.fnmatchcase(name.rsplit(".", 1)[-1], g) for g in globs)


def _used_by(module, node, globs: list[str]) -> bool:
    function = module.enclosing_function(node)
    scope = function.body if function is not None else module.tree
    calls = [c for c in module.walk(scope) if isinstance(c, cst.Call) and _callee_matches(module, c, globs)]
    if isinstance(node, cst.IfExp) and any(any(a.value is node for a in c.args) for c in calls):
        return True  # passed straight in: loss(x if c else y)
    stores = _assigned_name(module, node)
    model = module.function_model(function)
    for call in calls:
        for arg in call.args:
            for name_node in module.walk(arg.value):
                if not isinstance(name_node, (cst.Name, cst.Attribute)):
                    continue
                key = access_path(name_node)
                defs = model.definitions_at(name_node, key) if key else None
                if defs and any(d.stmt is not None and any(d.key == k and (d.stmt is s or module.parent(s) is d.stmt)
                                                            for k, s in stores) for d in defs):
                    return True
    return False


class BranchKind(CheckKind):
    kind = "branch"

    def relevant(self, check, text):
        return text_has_all(text, pattern_words(check.condition) | pattern_words(check.then) | pattern_words(check.else_))

    def scan(self, check, module):
        condition, then, otherwise = (compile_pattern(p) for p in (check.condition, check.then, check.else_))
        facts = []
        resolver = module.resolver()
        for node in module.walk(module.tree):
            if check.inside and isinstance(node, (cst.IfExp, cst.If)) and not module.is_inside(node, check.inside):
                continue
            if isinstance(node, cst.IfExp):
                test, body, orelse = node.test, node.body, node.orelse
            elif isinstance(node, cst.If) and isinstance(node.orelse, cst.Else):
                test, body, orelse = node.test, node.body, node.orelse.body
            else:
                continue
            with resolving(resolver):
                if isinstance(test, cst.UnaryOperation) and isinstance(test.operator, cst.Not) and match(condition, test) is None:
                    test, body, orelse = test.expression, orelse, body
                if match(condition, test) is None or not module.is_live(node):
                    continue
                selects = _contains(module, then, body) and _contains(module, otherwise, orelse)
            code = module.snippet(test, 60)
            if not selects:
                facts.append(evidence_for(module, node, FAIL, L(
                    f"`if {code}` does not select `{check.then}` / `{check.else_}`",
                    f"`if {code}` 没有在 `{check.then}` / `{check.else_}` 之间选择")))
            elif check.used_by and not _used_by(module, node, check.used_by):
                facts.append(evidence_for(module, node, FAIL, L(
                    f"`if {code}` selects `{check.then}` / `{check.else_}`, but the selection never reaches "
                    f"`{', '.join(check.used_by)}`",
                    f"`if {code}` 做了选择，但结果没有传给 `{', '.join(check.used_by)}`")))
            else:
                chosen, other = module.snippet(body, 60), module.snippet(orelse, 60)
                facts.append(evidence_for(module, node, PASS, L(
                    f"`if {code}` selects `{chosen}`, else `{other}`",
                    f"`if {code}` 时使用 `{chosen}`，否则使用 `{other}`")))
        return facts

    def evaluate(self, check, facts, ctx):
        return any_site_passes(facts, L(f"no branch on `{check.condition}`", f"找不到基于 `{check.condition}` 的分支"))
