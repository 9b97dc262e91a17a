"""`guard`: inside a function, an `if` on a condition exits before a later statement.

The condition matches the whole test or one `or` disjunct (comparisons normalised: `x <= 0`,
`0 >= x`, `x < 1`, `not x > 0` are one guard). The body must exit directly (`return`, `raise`,
… as listed in `exits`). The guard must come before, and not inside, every statement matching
`before` (the work it protects), in the same function.
"""

from __future__ import annotations

import fnmatch

import libcst as cst

from leveraudit.checks.base import (
    FAIL,
    PASS,
    CheckKind,
    L,
    Outcome,
    any_site_passes,
    evidence_for,
    names_in_glob,
    pattern_words,
    text_has_all,
)
from leveraudit.extract.pattern import compile_pattern, find_any, match, walk

_EXIT_TYPES = {"return": cst.Return, "raise": cst.Raise, "continue": cst.Continue, "break": cst.Break}


def disjuncts(test: cst.BaseExpression) -> list[cst.BaseExpression]:
    if isinstance(test, cst.BooleanOperation) and isinstance(test.operator, cst.Or):
        return disjuncts(test.left) + disjuncts(test.right)
    return [test]


def conjuncts(test: cst.BaseExpression) -> list[cst.BaseExpression]:
    if isinstance(test, cst.BooleanOperation) and isinstance(test.operator, cst.And):
        return conjuncts(test.left) + conjuncts(test.right)
    return [test]


def direct_exits(body: cst.BaseSuite, exits: list[str]) -> bool:
    wanted = tuple(_EXIT_TYPES[e] for e in exits)
    statements = body.body
    for statement in statements:
        smalls = statement.body if isinstance(statement, cst.SimpleStatementLine) else [statement]
        if any(isinstance(s, wanted) for s in smalls):
            return True
    return False


def calls_in(module, node) -> list[str]:
    names = []
    for child in walk(node, module):
        if isinstance(child, cst.Call):
            names.append(module.resolve(child.func) or module.snippet(child.func, 60))
    return names


class GuardKind(CheckKind):
    kind = "guard"

    def relevant(self, check, text):
        return any(text_has_all(text, names_in_glob(g)) for g in check.inside) and text_has_all(
            text, pattern_words(check.condition))

    def scan(self, check, module):
        condition = compile_pattern(check.condition)
        targets = [compile_pattern(p) for p in check.before]
        facts = []
        for function in module.find_defs(check.inside, cst.FunctionDef):
            qual = module.qualname(function)
            guards = [node for node in walk(function.body, module) if isinstance(node, cst.If)
                      and module.enclosing_function(node) is function
                      and any(match(condition, d) is not None for d in disjuncts(node.test))]
            protected = [node for node, _ in find_any(targets, function.body, module)
                         if module.enclosing_function(node) is function]
            if not guards:
                facts.append(evidence_for(module, function.name, FAIL, L(
                    f"`{qual}` has no `if {check.condition}` guard", f"`{qual}` 中没有 `if {check.condition}` 的保护逻辑")))
                continue
            for guard in guards:
                facts.append(self._judge(check, module, qual, guard, protected))
        return facts

    def _judge(self, check, module, qual, guard, protected):
        exits = direct_exits(guard.body, check.exits)
        guard_line = module.lines(guard)[0]
        inside_target = [t for t in protected if any(n is guard for n in walk(t, module))]
        before = [t for t in protected if module.lines(t)[0] > guard_line and not any(t is i for i in inside_target)]
        after = [t for t in protected if module.lines(t)[0] < guard_line]
        problems_en, problems_zh = [], []
        if not exits:
            problems_en.append(f"its body does not {'/'.join(check.exits)}")
            problems_zh.append(f"分支内没有 {'/'.join(check.exits)}")
        if not protected:
            problems_en.append("the statement it should protect was not found")
            problems_zh.append("找不到它应保护的语句")
        elif inside_target or after or not before:
            lines = ", ".join(str(module.lines(t)[0]) for t in (after or inside_target or protected))
            problems_en.append(f"it comes after or inside the protected code (line {lines})")
            problems_zh.append(f"它位于受保护代码之后或之内（第 {lines} 行）")
        if check.body_calls:
            called = calls_in(module, guard.body)
            if not any(fnmatch.fnmatchcase(c, g) or fnmatch.fnmatchcase(c.rsplit(".", 1)[-1], g)
                       for c in called for g in check.body_calls):
                problems_en.append(f"its body calls none of {', '.join(check.body_calls)}")
                problems_zh.append(f"分支内没有调用 {', '.join(check.body_calls)}")
        code = module.snippet(guard.test, 80)
        if problems_en:
            return evidence_for(module, guard, FAIL, L(f"`{qual}`: guard `if {code}`: " + "; ".join(problems_en),
                                                       f"`{qual}`：保护 `if {code}`：" + "；".join(problems_zh)))
        target_line = module.lines(before[0])[0]
        return evidence_for(module, guard, PASS, L(
            f"`{qual}`: `if {code}` exits before line {target_line}",
            f"`{qual}`：`if {code}` 在第 {target_line} 行之前直接返回"))

    def evaluate(self, check, facts, ctx):
        if not facts:
            return Outcome(FAIL, L(f"no function matches `{', '.join(check.inside)}`",
                                   f"找不到函数 `{', '.join(check.inside)}`"))
        return any_site_passes(facts, {})
