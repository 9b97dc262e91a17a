"""`assigns_key`: a key is set, optionally only to allowed literal values.

Accepts `c["k"] = v`, `c.update(k=v)`, `c.update({"k": v})`, `{"k": v}` dict displays,
`dict(k=v)` and `Model(k=v)` constructions (any CamelCase callee, or the `constructors` globs).
Values are read statically: a literal, or both arms of `a if cond else b`; other expressions are
accepted and reported as not statically checked.
"""

from __future__ import annotations

import fnmatch

import libcst as cst

from leveraudit.checks.base import FAIL, PARTIAL, PASS, CheckKind, L, Outcome, evidence_for, to_evidence
from leveraudit.extract.module import literal_value


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
        for node, value, shape in found:
            if check.inside and not module.is_inside(node, check.inside):
                continue
            values = _values(module, value)
            statement = node if shape == "keyword" else _statement_of(module, node)
            if check.values is not None and values is not None and not all(v in check.values for v in values):
                bad = [v for v in values if v not in check.values]
                facts.append(evidence_for(module, statement, FAIL, L(
                    f"`{check.key}` set to {bad!r}, allowed {check.values!r}",
                    f"`{check.key}` 被设为 {bad!r}，只允许 {check.values!r}")))
            elif check.values is not None and values is None:
                facts.append(evidence_for(module, statement, PASS, L(
                    f"sets `{check.key}` (value not a literal; not checked against {check.values!r})",
                    f"设置了 `{check.key}`（值不是字面量，未核对 {check.values!r}）")))
            else:
                facts.append(evidence_for(module, statement, PASS, L(f"sets `{check.key}`", f"设置了 `{check.key}` 字段")))
        return facts

    def evaluate(self, check, facts, ctx):
        evidence = [to_evidence(f) for f in facts]
        if not evidence:
            return Outcome(FAIL, L(f"`{check.key}` is never assigned", f"没有任何地方设置 `{check.key}` 字段"))
        bad = [e for e in evidence if e.status != PASS]
        good = [e for e in evidence if e.status == PASS]
        if bad:
            return Outcome(PARTIAL if good else FAIL, bad[0].message, evidence)
        if len(good) < check.min_count:
            return Outcome(PARTIAL, L(f"`{check.key}` assigned {len(good)} time(s), expected at least {check.min_count}",
                                      f"`{check.key}` 只被设置 {len(good)} 次，至少需要 {check.min_count} 次"), evidence)
        return Outcome(PASS, good[0].message, evidence)


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
