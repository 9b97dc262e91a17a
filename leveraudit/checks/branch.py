"""`branch`: an `if` on a condition selects one expression, else another.

Accepts the expression form `a if cond else b` (and `b if not cond else a`) and the statement
form `if cond: x = a` / `else: x = b`. `then` / `else` patterns are searched inside each arm, so
`batch["r"].to(device)` contains `$B["r"]`.
"""

from __future__ import annotations

import libcst as cst

from leveraudit.checks.base import FAIL, PASS, CheckKind, L, any_site_passes, evidence_for, pattern_words, text_has_all
from leveraudit.extract.pattern import compile_pattern, find, match, walk


def _contains(module, pattern, node) -> bool:
    return node is not None and next(find(pattern, node, module), None) is not None


class BranchKind(CheckKind):
    kind = "branch"

    def relevant(self, check, text):
        return text_has_all(text, pattern_words(check.condition) | pattern_words(check.then) | pattern_words(check.else_))

    def scan(self, check, module):
        condition, then, otherwise = (compile_pattern(p) for p in (check.condition, check.then, check.else_))
        facts = []
        for node in walk(module.tree, module):
            if check.inside and isinstance(node, (cst.IfExp, cst.If)) and not module.is_inside(node, check.inside):
                continue
            if isinstance(node, cst.IfExp):
                test, body, orelse = node.test, node.body, node.orelse
            elif isinstance(node, cst.If) and isinstance(node.orelse, cst.Else):
                test, body, orelse = node.test, node.body, node.orelse.body
            else:
                continue
            if isinstance(test, cst.UnaryOperation) and isinstance(test.operator, cst.Not) and match(condition, test) is None:
                test, body, orelse = test.expression, orelse, body
            if match(condition, test) is None:
                continue
            if _contains(module, then, body) and _contains(module, otherwise, orelse):
                chosen, other = module.snippet(body, 60), module.snippet(orelse, 60)
                facts.append(evidence_for(module, node, PASS, L(
                    f"`if {module.snippet(test, 60)}` selects `{chosen}`, else `{other}`",
                    f"`if {module.snippet(test, 60)}` 时使用 `{chosen}`，否则使用 `{other}`")))
            else:
                facts.append(evidence_for(module, node, FAIL, L(
                    f"`if {module.snippet(test, 60)}` does not select `{check.then}` / `{check.else_}`",
                    f"`if {module.snippet(test, 60)}` 没有在 `{check.then}` / `{check.else_}` 之间选择")))
        return facts

    def evaluate(self, check, facts, ctx):
        return any_site_passes(facts, L(f"no branch on `{check.condition}`", f"找不到基于 `{check.condition}` 的分支"))
