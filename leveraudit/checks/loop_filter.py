"""`loop_filter`: in a loop, an item for which every `condition` holds is skipped.

Decided on the control-flow graph of one iteration: with every condition assumed true at the
start of the loop body, no path may reach the statements that record the item (`before`, e.g.
`$L.append(...)`; without it, the body's normal end) before the loop goes round again. So
`if s.skip and c["mode"] == "fallback": continue`, the nested form, the negated form
(`if not (...): record(c)`), a condition held in a local (`mode = c.get("mode")`) or a one-line
helper (`if self._is_fallback(c): continue`) are one filter; a filter placed after the
recording statement, or a `continue` of an inner loop, is not. Key reads `c["k"]`, `c.get("k")`
and `c.k` are one shape. With `iter`, only loops whose iterable contains that pattern count. The
skip must leave the iteration by one of `exits` (`continue` by default).
"""

from __future__ import annotations

from leveraudit.lazy import cst

from leveraudit.analysis.cfg import RAISE, RETURN, terminator
from leveraudit.analysis.conditions import Assumption
from leveraudit.checks.base import FAIL, PASS, CheckKind, L, any_site_passes, evidence_for, names_in_glob, text_has_all
from leveraudit.extract.pattern import code_of, compile_pattern, find, find_any


def _nearest_loop(module, node):
    for ancestor in module.ancestors(node):
        if isinstance(ancestor, (cst.For, cst.While)):
            return ancestor
        if isinstance(ancestor, (cst.FunctionDef, cst.Lambda)):
            return None
    return None


def _exits_reached(model, reach: set[int], loop) -> set[str]:
    info = model.cfg.loop_of[id(loop)]
    kinds = set()
    for index in reach:
        node = model.cfg.nodes[index]
        if isinstance(node.stmt, (cst.SimpleStatementLine, cst.SimpleStatementSuite)):
            ending = next((t for t in map(terminator, node.stmt.body) if t), None)
            if ending in ("continue", "break") and any(t in (info.header, info.after) for t, _ in node.succ):
                kinds.add(ending)
    if info.end in reach:
        kinds.add("continue")  # the recording statements were avoided and the iteration just ends
    if RETURN in reach:
        kinds.add("return")
    if RAISE in reach:
        kinds.add("raise")
    return kinds


class LoopFilterKind(CheckKind):
    kind = "loop_filter"

    def relevant(self, check, text):
        return any(text_has_all(text, names_in_glob(g)) for g in check.inside)

    def identifiers_only(self, check):
        return True   # class and def names

    def segment_relevant(self, check, text):
        return self.relevant(check, text)   # the scopes named by `inside`

    def scan(self, check, module):
        conditions = [compile_pattern(c) for c in check.condition]
        iter_pattern = compile_pattern(check.iter) if check.iter else None
        recorders = [compile_pattern(p) for p in check.before] if check.before else None
        shown = " and ".join(check.condition)
        facts = []
        for scope in module.find_defs(check.inside):
            qual = module.qualname(scope)
            loops = [n for n in module.descendants(scope, cst.For, cst.While)
                     if module.enclosing_function(n) is not None
                     and (iter_pattern is None or next(find(iter_pattern, n.iter if isinstance(n, cst.For) else n.test,
                                                            module), None) is not None)]
            verdicts = [self._judge(module, loop, conditions, recorders, check.exits) for loop in loops]
            passing = [v for v in verdicts if v[0] == PASS]
            for status, node, why in passing:
                facts.append(evidence_for(module, node, PASS, L(
                    f"`{qual}`: `if {module.snippet(node.test, 90)}` skips the item",
                    f"`{qual}`：循环中 `if {module.snippet(node.test, 90)}` 时跳过")))
            if passing or not loops:
                continue
            best = next((i for i, v in enumerate(verdicts) if v[1] is not None), 0)
            _, site, (detail_en, detail_zh) = verdicts[best]
            node = site if site is not None else loops[best]
            facts.append(evidence_for(module, node, FAIL, L(
                f"`{qual}`: the loop has no filter `if {shown}: {check.exits[0]}`{detail_en}",
                f"`{qual}`：遍历时没有 `if {shown}: {check.exits[0]}` 的过滤逻辑{detail_zh}")))
        return facts

    def _judge(self, module, loop, conditions, recorders, exits):
        function = module.enclosing_function(loop)
        model = module.function_model(function)
        info = model.cfg.loop_of.get(id(loop))
        if info is None:
            return FAIL, loop, ("", "")
        assumption = Assumption(conditions, module.resolver())
        sites = [n for n in module.descendants(loop.body, cst.If) if assumption.mentions(n.test)]
        own = [n for n in sites if _nearest_loop(module, n) is loop]
        if not sites:
            return FAIL, None, ("", "")
        if not own:
            return FAIL, sites[0], (" (the skip is in an inner loop)", "（跳过发生在内层循环中）")
        stop = {info.header, info.after}
        reach = model.reach_under(assumption, start=info.body, stop=stop)
        plain = model.cfg.reachable(info.body, stop=stop)
        if recorders is None:
            targets = [info.end]
            shown_lines = ""
        else:
            found = [n for n, _ in find_any(recorders, loop.body, module)]
            targets = [model.node(n) for n in found]
            shown_lines = ", ".join(str(module.lines(n)[0]) for n in found if model.node(n) in reach)
            if not found:
                return FAIL, own[0], (" (the statement that records the item was not found)", "（找不到记录样本的语句）")
        if any(t in reach for t in targets):
            where = f" before line {shown_lines}" if shown_lines else ""
            return FAIL, own[0], (f" (when it holds, the item is still recorded{where})",
                                  f"（条件成立时样本仍被记录{('，第 ' + shown_lines + ' 行') if shown_lines else ''}）")
        if not all(t in plain for t in targets):
            return FAIL, own[0], (" (the item is never recorded)", "（样本从未被记录）")
        for position, pattern in enumerate(conditions):  # each condition matters: with it off, the item is kept
            otherwise = Assumption([(c, i != position) for i, c in enumerate(conditions)], module.resolver())
            kept = model.reach_under(otherwise, start=info.body, stop=stop)
            if not all(t in kept for t in targets):
                shown = code_of(pattern).replace("__mv_", "$")
                return FAIL, own[0], (f" (it also skips items when `{shown}` does not hold)",
                                      f"（`{shown}` 不成立时也会跳过）")
        if not _exits_reached(model, reach, loop) & set(exits):
            return FAIL, own[0], (f" (it does not {'/'.join(exits)})", f"（没有 {'/'.join(exits)}）")
        return PASS, own[0], ("", "")

    def evaluate(self, check, facts, ctx):
        scope = ", ".join(check.inside)
        return any_site_passes(facts, L(f"no loop{' over ' + check.iter if check.iter else ''} in `{scope}`",
                                        f"`{scope}` 中找不到{('遍历 ' + check.iter + ' 的') if check.iter else ''}循环"))
