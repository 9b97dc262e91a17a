"""`call_kwarg`: every call of a callee passes a keyword (optionally with a value pattern).

Callees resolve through `import m as a` and `from m import C as D`; `callee` matches the resolved
dotted name, its last part, or a glob. The keyword's value follows locals: `skip = args.skip` then
`D(skip=skip)` passes `args.skip`, while `args.skip = False` before the call means `False` is
passed. Calls in dead code (after a `return`, under `if False:`) do not count. A call that
forwards `**kwargs` cannot be verified statically and does not pass. Fewer than `min_count` calls
never pass.
"""

from __future__ import annotations

import fnmatch
import re

from leveraudit.lazy import cst

from leveraudit.checks.base import (FAIL, PARTIAL, PASS, CheckKind, L, Outcome, aggregate, evidence_for, names_in_glob,
                                    text_has_all, to_evidence)
from leveraudit.analysis.model import effective_values
from leveraudit.extract.pattern import compile_pattern, find, resolving


def callee_matches(resolved: str, written: str, glob: str) -> bool:
    for name in {resolved, written}:
        if not name:
            continue
        if fnmatch.fnmatchcase(name, glob) or fnmatch.fnmatchcase(name.rsplit(".", 1)[-1], glob):
            return True
        if name.endswith("." + glob):
            return True
    return False


def may_call(text: str, glob: str) -> bool:
    """A necessary condition, on a file's or a definition's text, for a call in it to match `glob`
    (`callee_matches`): a matching name holds each literal run of the glob, and both names come from
    the text, the written one from the call's code, the resolved one from it and the import its first
    name stands for. So `torch.load` needs `torch` too, not only the `load` of every `json.load`."""
    return text_has_all(text, names_in_glob(glob, shortest=1))


_WILDCARD = re.compile(r"[*?\[]")


def call_matches(module, call: cst.Call, glob: str, limit: int = 200) -> bool:
    """Whether a call's callee matches `glob` (`callee_matches` on its resolved and written names).

    A callee that is no name chain (`super().__init__`, `self.layers[0].forward`) has its text generated,
    which costs more than the rest of a scan over every call. So a plain glob first compares the last name
    of an attribute callee, before anything is resolved: a name matches a plain glob only if it is the glob
    or ends with `.glob`, so its last part is the glob's, and an attribute's resolved name (its first part
    through the imports) and its written one both end with the attribute (written in parentheses, the
    generated text ends with `)` and matches no plain glob at all)."""
    func = call.func
    if type(func) is cst.Attribute and func.attr.value != glob.rsplit(".", 1)[-1] and not _WILDCARD.search(glob):
        return False
    resolved = module.resolve(func)
    if resolved:       # a name chain: the written name is the chain itself
        return callee_matches(resolved, module.callee_text(func, limit), glob)
    return callee_matches("", module.callee_text(func, limit), glob)


def _passes(module, resolver, pattern, value) -> bool:
    """Every value the keyword may carry (through locals) contains the pattern."""
    with resolving(resolver):
        return all(next(find(pattern, v, module, follow_names=True), None) is not None
                   for v in effective_values(module, value))


class CallKwargKind(CheckKind):
    kind = "call_kwarg"

    def relevant(self, check, text):
        return may_call(text, check.callee)

    def identifiers_only(self, check):
        return True   # the callee is code

    def segment_relevant(self, check, text):
        return self.relevant(check, text)   # the call; helpers and constants it resolves through are kept by name

    def splits_classes(self, check):
        return True   # `self.x` values come from the methods that assign them, which are kept by name

    def scan(self, check, module):
        value_pattern = compile_pattern(check.value) if check.value else None
        facts = []
        resolver = module.resolver()
        for call in module.calls:
            if not call_matches(module, call, check.callee) or not module.is_live(call):
                continue
            written = module.callee_text(call.func, 200)
            keyword = next((a for a in call.args if a.keyword is not None and a.keyword.value == check.keyword), None)
            name = written
            if keyword is None:
                forwards = any(a.star == "**" for a in call.args)
                note = " (only `**` forwarding, not verifiable)" if forwards else ""
                facts.append(evidence_for(module, call, FAIL, L(
                    f"`{name}(...)` does not pass `{check.keyword}=`{note}",
                    f"`{name}(...)` 没有传入 `{check.keyword}=`{'（只有 ** 转发，无法静态确认）' if forwards else ''}")))
            elif value_pattern is not None and not _passes(module, resolver, value_pattern, keyword.value):
                facts.append(evidence_for(module, keyword, FAIL, L(
                    f"`{name}(...)` passes `{module.snippet(keyword, 80)}`, expected `{check.keyword}={check.value}`",
                    f"`{name}(...)` 传入的是 `{module.snippet(keyword, 80)}`，应为 `{check.keyword}={check.value}`")))
            else:
                facts.append(evidence_for(module, keyword, PASS, L(
                    f"`{name}(...)` passes `{module.snippet(keyword, 80)}`", f"`{name}(...)` 传入了 `{module.snippet(keyword, 80)}`")))
        return facts

    def evaluate(self, check, facts, ctx):
        evidence = [to_evidence(f) for f in facts]
        if not evidence:
            return Outcome(FAIL, L(f"no call of `{check.callee}` found", f"找不到 `{check.callee}` 的调用"))
        passing = sum(e.status == PASS for e in evidence)
        status = aggregate([e.status for e in evidence])
        if status == PASS and len(evidence) < check.min_count:
            status = PARTIAL
        message = L(f"{passing}/{len(evidence)} calls of `{check.callee}` pass `{check.keyword}`"
                    + (f" (at least {check.min_count} expected)" if len(evidence) < check.min_count else ""),
                    f"`{check.callee}` 的 {len(evidence)} 处调用中 {passing} 处传入了 `{check.keyword}`"
                    + (f"（至少需要 {check.min_count} 处）" if len(evidence) < check.min_count else ""))
        return Outcome(status, message, evidence)
