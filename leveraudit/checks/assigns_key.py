"""`assigns_key`: a key is set, optionally only to allowed literal values.

Accepts `c["k"] = v`, `c.update(k=v)`, `c.update({"k": v})`, `{"k": v}` dict displays,
`dict(k=v)` and `Model(k=v)` constructions (any CamelCase callee, or the `constructors` globs).
Values are read statically: a literal, or both arms of `a if cond else b`; other expressions are
accepted and reported as not statically checked.
"""

from __future__ import annotations

import fnmatch

from leveraudit.lazy import cst

from leveraudit.checks.base import FAIL, PARTIAL, PASS, CheckKind, L, Outcome, evidence_for, to_evidence
from leveraudit.analysis.model import effective_values
from leveraudit.extract.module import literal_value
from leveraudit.extract.pattern import compile_pattern, match, resolving


def _values(module, expr: cst.BaseExpression) -> list | None:
    if isinstance(expr, cst.IfExp):
        left, right = _values(module, expr.body), _values(module, expr.orelse)
        return None if left is None or right is None else left + right
    known, value = module.literal(expr)
    return [value] if known else None


def _is_constructor(module, call: cst.Call, globs: list[str] | None) -> bool:
    name = module.resolve(call.func)
    last = name.rsplit(".", 1)[-1]
    if globs:
        return any(fnmatch.fnmatchcase(name, g) or fnmatch.fnmatchcase(last, g) for g in globs)
    return last == "dict" or (last[:1].isupper() and not last.isupper())


class AssignsKeyKind(CheckKind):
    kind = "assigns_key"

    def relevant(self, check, text):
        return check.key in text

    def scan(self, check, module):
        found = []  # (node, value expression, shape)
        for node in _walk_module(module):
            if isinstance(node, (cst.Assign, cst.AugAssign, cst.AnnAssign)):
                targets = [t.target for t in node.targets] if isinstance(node, cst.Assign) else [node.target]
                for target in targets:
                    if isinstance(target, cst.Subscript) and len(target.slice) == 1 and isinstance(target.slice[0].slice, cst.Index):
                        known, key = literal_value(target.slice[0].slice.value, module.constants)
                        if known and key == check.key and node.value is not None:
                            found.append((node, node.value, "subscript"))
            elif isinstance(node, cst.Call):
                is_update = isinstance(node.func, cst.Attribute) and node.func.attr.value in ("update", "setdefault")
                if is_update or _is_constructor(module, node, check.constructors):
                    for arg in node.args:
                        if arg.keyword is not None and arg.keyword.value == check.key:
                            found.append((arg, arg.value, "keyword"))
                    if is_update and node.func.attr.value == "setdefault" and node.args:
                        known, key = module.literal(node.args[0].value)
                        if known and key == check.key and len(node.args) > 1:
                            found.append((node, node.args[1].value, "setdefault"))
            elif isinstance(node, cst.Dict):
                for element in node.elements:
                    if isinstance(element, cst.DictElement):
                        known, key = module.literal(element.key)
                        if known and key == check.key:
                            found.append((element, element.value, "dict"))
        facts = []
        found = [f for f in found if (not check.inside or module.is_inside(f[0], check.inside)) and module.is_live(f[0])]
        resolver = module.resolver()
        for node, value, shape in found:
            statement = node if shape == "keyword" else _statement_of(module, node)
            facts.append(self._judge(check, module, resolver, node, value, statement, found))
        return facts

    def _judge(self, check, module, resolver, node, value, statement, found):
        problems: list[tuple[str, str]] = []
        values = _values(module, value)
        if check.values is not None and values is not None and not all(v in check.values for v in values):
            bad = [v for v in values if v not in check.values]
            problems.append((f"`{check.key}` set to {bad!r}, allowed {check.values!r}",
                             f"`{check.key}` 被设为 {bad!r}，只允许 {check.values!r}"))
        partial = not _on_every_path(module, statement, [s for s, _, _ in found])
        if partial:
            problems.append((f"`{check.key}` is set on only some paths through the loop (e.g. only in an `except` "
                             f"branch)", f"`{check.key}` 只在部分执行路径上被设置（例如只在 `except` 分支中）"))
        note = ("", "")
        if check.derived_from is not None:
            verdict, note = _derivation(check.derived_from, module, resolver, node, value)
            if verdict is not None:
                problems.append(verdict)
        if problems:
            fact = evidence_for(module, statement, FAIL, L("; ".join(p[0] for p in problems), "；".join(p[1] for p in problems)))
            fact["partial_only"] = partial and len(problems) == 1
            return fact
        if check.values is not None and values is None and check.derived_from is None:
            return evidence_for(module, statement, PASS, L(
                f"sets `{check.key}` (value not a literal; not checked against {check.values!r})",
                f"设置了 `{check.key}`（值不是字面量，未核对 {check.values!r}）"))
        return evidence_for(module, statement, PASS, L(f"sets `{check.key}`{note[0]}", f"设置了 `{check.key}` 字段{note[1]}"))

    def evaluate(self, check, facts, ctx):
        evidence = [to_evidence(f) for f in facts]
        if not evidence:
            return Outcome(FAIL, L(f"`{check.key}` is never assigned", f"没有任何地方设置 `{check.key}` 字段"))
        bad = [e for e in evidence if e.status != PASS]
        good = [e for e in evidence if e.status == PASS]
        if bad:
            only_partial = all(f.get("partial_only") for f in facts if f["status"] != PASS)
            return Outcome(PARTIAL if good or only_partial else FAIL, bad[0].message, evidence)
        if len(good) < check.min_count:
            return Outcome(PARTIAL, L(f"`{check.key}` assigned {len(good)} time(s), expected at least {check.min_count}",
                                      f"`{check.key}` 只被设置 {len(good)} 次，至少需要 {check.min_count} 次"), evidence)
        return Outcome(PASS, good[0].message, evidence)


def _enclosing_loop(module, node):
    for ancestor in module.ancestors(node):
        if isinstance(ancestor, (cst.For, cst.While)):
            return ancestor
        if isinstance(ancestor, (cst.FunctionDef, cst.ClassDef, cst.Lambda)):
            return None
    return None


def _on_every_path(module, statement, sites) -> bool:
    """Inside a loop (one record per item), every iteration that reaches the loop body's end passes
    through an assignment of the key. Outside loops the question is not asked."""
    loop = _enclosing_loop(module, statement)
    if loop is None:
        return True
    model = module.function_model(module.enclosing_function(loop))
    info = model.cfg.loop_of.get(id(loop))
    if info is None:
        return True
    assigning = {model.node(s) for s in sites} - {None}
    return info.end not in model.cfg.reachable(info.body, avoid=assigning, stop={info.header, info.after})


def _derivation(derived, module, resolver, node, value):
    """(problem or None, note) for `derived_from`: the value chosen when the condition holds is
    `then`, otherwise `else`, through a conditional expression, a local holding one, or an
    enclosing `if` on the condition."""
    patterns = [compile_pattern(c) for c in derived.condition]
    shown = " | ".join(derived.condition)
    arms = []  # (truth of the condition, the literal chosen)
    chosen_by = shown
    with resolving(resolver):
        for candidate in effective_values(module, value):
            if isinstance(candidate, cst.IfExp):
                truth = _condition_truth(patterns, candidate.test)
                if truth is None:
                    return (f"the value is chosen by `{module.snippet(candidate.test, 60)}`, not by `{shown}`",
                            f"取值依据是 `{module.snippet(candidate.test, 60)}`，而不是 `{shown}`"), ("", "")
                chosen_by = module.snippet(candidate.test, 60)
                for arm, holds in ((candidate.body, truth), (candidate.orelse, not truth)):
                    known, literal = module.literal(arm)
                    if known:
                        arms.append((holds, literal))
                continue
            known, literal = module.literal(candidate)
            if not known:
                return None, (" (not a literal choice; the derivation is not checked)", "（取值不是字面量，未核对其来源）")
            enclosing = next(((a, inside_body) for a, inside_body in _enclosing_ifs(module, node)
                              if _condition_truth(patterns, a.test) is not None), None)
            if enclosing is None:
                return (f"`{literal!r}` is set whatever `{shown}` says", f"无论 `{shown}` 如何都设为 `{literal!r}`"), ("", "")
            branch, inside_body = enclosing
            chosen_by = module.snippet(branch.test, 60)
            truth = _condition_truth(patterns, branch.test)
            arms.append((truth if inside_body else not truth, literal))
    for holds, literal in arms:
        expected = derived.then if holds else derived.else_
        opposite = derived.else_ if holds else derived.then
        if literal == opposite and literal != expected:
            return (f"the arms are swapped: `{literal!r}` is chosen when `{shown}` is {holds}",
                    f"取值颠倒：`{shown}` 为 {holds} 时取 `{literal!r}`"), ("", "")
    if len({literal for _, literal in arms}) < 2 and len(arms) >= 2:
        return (f"both arms give the same value; `{shown}` is not distinguished", f"两个分支取值相同，没有区分 `{shown}`"), ("", "")
    return None, (f" (chosen by `{chosen_by}`)", f"（由 `{chosen_by}` 决定）")


def _condition_truth(patterns, test) -> bool | None:
    """True when the test is the condition, False when it is its negation."""
    for pattern in patterns:
        if match(pattern, test) is not None:
            return True
        if isinstance(test, cst.UnaryOperation) and isinstance(test.operator, cst.Not) and match(pattern, test.expression) is not None:
            return False
    return None


def _enclosing_ifs(module, node):
    """(if statement, whether node is in its body) for each enclosing `if` up to the function."""
    child = node
    for ancestor in module.ancestors(node):
        if isinstance(ancestor, (cst.FunctionDef, cst.ClassDef, cst.Lambda)):
            return
        if isinstance(ancestor, cst.If):
            yield ancestor, any(n is child for n in module.walk(ancestor.body))
        child = ancestor


def _walk_module(module):
    from leveraudit.extract.pattern import walk
    return walk(module.tree, module)


def _statement_of(module, node):
    current = node
    for ancestor in [node, *module.ancestors(node)]:
        current = ancestor
        if isinstance(ancestor, (cst.SimpleStatementLine, cst.BaseCompoundStatement)):
            break
    return current
