"""`guard`: inside a function, when a condition holds, the protected work cannot run.

Decided on the function's control-flow graph, as a reader follows it: with `condition` assumed
true at the function's start, no path may reach a statement matching `before` (the protected
work, e.g. the GRPO loop), while every statement matching `after` (work that must still run, e.g.
the RCE warm-up) stays reachable. Any shape that does this passes: an early `return` / `raise`,
the work in the `else` of `if <condition>`, or under `if <not condition>` (`x > 0` is the
negation of `x <= 0`), a condition held in a local (`rce_only = ...; if rce_only: return`) or in
a one-line helper (`if self._rce_only(): return`). Under the condition the function must leave by
one of `exits` (falling off the end is a `return`). Protected work reached through a call of a
method or function of the same module counts as protected work. Guards in nested functions do
not count; with `body_calls`, a call such as the notice `print` must run only when the condition
holds.
"""

from __future__ import annotations

import fnmatch

from leveraudit.lazy import cst

from leveraudit.analysis.cfg import RAISE, RETURN
from leveraudit.analysis.conditions import Assumption, negation
from leveraudit.analysis.model import local_callee
from leveraudit.checks.base import (
    FAIL,
    PASS,
    CheckKind,
    L,
    Outcome,
    any_site_passes,
    evidence_for,
    has_strings,
    may_define,
    names_in_glob,
    pattern_words,
    text_has_all,
)
from leveraudit.extract.pattern import compile_pattern, find_any


def own_nodes(module, function: cst.FunctionDef, types: tuple) -> list[cst.CSTNode]:
    """Nodes of these types in the function's own body (not in nested functions)."""
    return [n for n in module.descendants(function.body, *types) if module.enclosing_function(n) is function]


def own_matches(module, function: cst.FunctionDef, patterns: list) -> list[cst.CSTNode]:
    found = [n for n, _ in find_any(patterns, function.body, module) if module.enclosing_function(n) is function]
    if found:
        return found
    # one level into helpers: `self._grpo_phase()` whose body holds the protected loop
    helpers = []
    for call in own_nodes(module, function, (cst.Call,)):
        helper = local_callee(module, call)
        if helper is not None and next(find_any(patterns, helper.body, module), None) is not None:
            helpers.append(call)
    return helpers


def called_names(module, node) -> list[str]:
    return [module.resolve(c.func) or module.callee_text(c.func, 60) for c in module.descendants(node, cst.Call)]


def _calls_match(names: list[str], globs: list[str]) -> bool:
    return any(fnmatch.fnmatchcase(c, g) or fnmatch.fnmatchcase(c.rsplit(".", 1)[-1], g) for c in names for g in globs)


def _lines(module, nodes) -> str:
    return ", ".join(str(module.lines(n)[0]) for n in nodes)


class GuardKind(CheckKind):
    kind = "guard"

    def relevant(self, check, text):
        return any(text_has_all(text, names_in_glob(g)) for g in check.inside) and text_has_all(
            text, pattern_words(check.condition))

    def identifiers_only(self, check):
        return not has_strings(check.condition)   # def names, and a condition without string literals

    def segment_relevant(self, check, text):
        # every def matching `inside` has a fact (a missing guard is one), so only the def counts
        return any(may_define(text, g) for g in check.inside)

    def splits_classes(self, check):
        return True

    def scan(self, check, module):
        facts = []
        for function in module.find_defs(check.inside, cst.FunctionDef):
            facts.append(self._judge(check, module, function))
        return facts

    def _judge(self, check, module, function):
        qual = module.qualname(function)
        condition = compile_pattern(check.condition)
        model = module.function_model(function)
        assumption = Assumption([condition], module.resolver())
        sites = [n for n in own_nodes(module, function, (cst.If, cst.While)) if assumption.mentions(n.test)]
        if not sites:
            return evidence_for(module, function.name, FAIL, L(
                f"`{qual}` has no `if {check.condition}` guard", f"`{qual}` 中没有 `if {check.condition}` 的保护逻辑"))
        guard = sites[0]
        reach = model.reach_under(assumption, kills=model.kills_for(pattern_words(check.condition)))
        protected = own_matches(module, function, [compile_pattern(p) for p in check.before])
        kept = own_matches(module, function, [compile_pattern(p) for p in check.after]) if check.after else []
        opposite = negation(condition)
        reach_otherwise = model.reach_under(Assumption([opposite], module.resolver())) if opposite is not None else None
        still_run = [n for n in protected if model.node(n) in reach]
        never_run = [n for n in protected if reach_otherwise is not None and model.node(n) not in reach_otherwise]
        skipped = [n for n in kept if model.node(n) not in reach]
        problems: list[tuple[str, str]] = []
        if not protected:
            problems.append(("the statement it should protect was not found", "找不到它应保护的语句"))
        elif still_run:
            lines = _lines(module, still_run)
            problems.append((f"when `{check.condition}` holds, line {lines} still runs (the guard comes after or "
                             f"inside the protected code, or does not exit)",
                             f"`{check.condition}` 成立时第 {lines} 行仍会执行（保护位于受保护代码之后或之内，或没有退出）"))
        elif never_run:
            lines = _lines(module, never_run)
            problems.append((f"line {lines} does not run even when `{check.condition}` does not hold",
                             f"`{check.condition}` 不成立时第 {lines} 行也不会执行"))
        if check.after and not kept:
            problems.append((f"no statement matching `{check.after[0]}` (what must still run) was found",
                             f"找不到应继续执行的语句 `{check.after[0]}`"))
        elif skipped:
            lines = _lines(module, skipped)
            problems.append((f"it also skips line {lines}, which must still run", f"它同时跳过了第 {lines} 行（应继续执行）"))
        leaves = {"return"} if RETURN in reach else set()
        if RAISE in reach:
            leaves.add("raise")
        if protected and not still_run and not leaves & set(check.exits):
            problems.append((f"when it holds, the function does not {'/'.join(check.exits)}",
                             f"条件成立时函数没有 {'/'.join(check.exits)}"))
        if check.body_calls and not self._notice(check, module, model, reach, reach_otherwise or set(), function):
            problems.append((f"no call of {', '.join(check.body_calls)} runs only when it holds",
                             f"没有只在条件成立时调用 {', '.join(check.body_calls)}"))
        code = module.snippet(guard.test, 80)
        if problems:
            return evidence_for(module, guard, FAIL, L(
                f"`{qual}`: guard `if {code}`: " + "; ".join(p[0] for p in problems),
                f"`{qual}`：保护 `if {code}`：" + "；".join(p[1] for p in problems)))
        first = min(protected, key=lambda n: module.lines(n)[0])
        return evidence_for(module, guard, PASS, L(
            f"`{qual}`: `if {code}` exits before line {module.lines(first)[0]}",
            f"`{qual}`：`if {code}` 在第 {module.lines(first)[0]} 行之前直接返回"))

    def _notice(self, check, module, model, reach, reach_otherwise, function) -> bool:
        for call in own_nodes(module, function, (cst.Call,)):
            index = model.node(call)
            if index in reach and index not in reach_otherwise and _calls_match(called_names(module, call), check.body_calls):
                return True
        return False

    def evaluate(self, check, facts, ctx):
        if not facts:
            return Outcome(FAIL, L(f"no function matches `{', '.join(check.inside)}`",
                                   f"找不到函数 `{', '.join(check.inside)}`"))
        return any_site_passes(facts, {})
