"""`loop_filter`: inside a loop, an `if` whose conjuncts match every `condition` pattern skips.

Conjuncts come from `a and b` and from enclosing `if`s between the loop and the skipping `if`,
so `if s.skip and c["mode"] == "fallback": continue` and the nested form are one filter. Key reads
`c["k"]`, `c.get("k")` and `c.k` are one shape. The `if` body must exit directly (`continue` by
default). With `iter`, only loops whose iterable matches that pattern count.
"""

from __future__ import annotations

import libcst as cst

from leveraudit.checks.base import FAIL, PASS, CheckKind, L, any_site_passes, evidence_for, names_in_glob, text_has_all
from leveraudit.checks.guard import conjuncts, direct_exits
from leveraudit.extract.pattern import compile_pattern, find, match, walk


class LoopFilterKind(CheckKind):
    kind = "loop_filter"

    def relevant(self, check, text):
        return any(text_has_all(text, names_in_glob(g)) for g in check.inside)

    def scan(self, check, module):
        conditions = [compile_pattern(c) for c in check.condition]
        iter_pattern = compile_pattern(check.iter) if check.iter else None
        facts = []
        for scope in module.find_defs(check.inside):
            qual = module.qualname(scope)
            loops = [n for n in walk(scope, module) if isinstance(n, cst.For)
                     and (iter_pattern is None or next(find(iter_pattern, n.iter, module), None) is not None)]
            best = None
            for loop in loops:
                for node in walk(loop.body, module):
                    if not isinstance(node, cst.If) or not direct_exits(node.body, check.exits):
                        continue
                    if _nearest_loop(module, node) is not loop:
                        continue
                    parts = conjuncts(node.test)
                    for ancestor in module.ancestors(node):
                        if ancestor is loop:
                            break
                        if isinstance(ancestor, cst.If) and any(n is node for n in walk(ancestor.body, module)):
                            parts += conjuncts(ancestor.test)
                    missing = [check.condition[i] for i, c in enumerate(conditions)
                               if not any(match(c, part) is not None for part in parts)]
                    if not missing:
                        facts.append(evidence_for(module, node, PASS, L(
                            f"`{qual}`: `if {module.snippet(node.test, 90)}` skips the item",
                            f"`{qual}`：循环中 `if {module.snippet(node.test, 90)}` 时跳过")))
                        best = "found"
            if best is None and loops:
                facts.append(evidence_for(module, loops[0], FAIL, L(
                    f"`{qual}`: the loop has no filter `if {' and '.join(check.condition)}: {check.exits[0]}`",
                    f"`{qual}`：遍历时没有 `if {' and '.join(check.condition)}: {check.exits[0]}` 的过滤逻辑")))
        return facts

    def evaluate(self, check, facts, ctx):
        scope = ", ".join(check.inside)
        return any_site_passes(facts, L(f"no loop{' over ' + check.iter if check.iter else ''} in `{scope}`",
                                        f"`{scope}` 中找不到{('遍历 ' + check.iter + ' 的') if check.iter else ''}循环"))


def _nearest_loop(module, node):
    for ancestor in module.ancestors(node):
        if isinstance(ancestor, (cst.For, cst.While)):
            return ancestor
    return None
