"""`checked_load`: every state-dict load in scope is checked.

In scope: calls named in `calls` (default `load_state_dict`) inside a def matching `inside`, or in
a function that mentions one of `mentions` (e.g. `sft_ckpt`), in code that can run. Copying a
live module's weights (`ref.load_state_dict(model.state_dict())`, through locals and attributes)
is not a checkpoint load and counts neither way. A load passes when it is strict
(`strict=True` or no `strict=` at all), or when, with `strict=False`:

* `kept_result`: the result is bound (`missing, unexpected = m.load_state_dict(...)` or
  `result = ...` then `result.missing_keys`);
* `reports_missing` / `reports_unexpected`: a print, logger, warning or raise after the load
  mentions the missing / unexpected keys (directly, through a loop over them, or in a helper of
  the same module that receives them: `_report_mismatch(missing, unexpected)`);
* `raises_on_missing`: a `raise` under an `if` whose test depends on the missing keys (directly,
  through a name computed from them, or in such a helper), or an `assert` on them.
"""

from __future__ import annotations

from leveraudit.lazy import cst

from leveraudit.checks.base import (
    FAIL,
    PARTIAL,
    PASS,
    CheckKind,
    L,
    Outcome,
    aggregate,
    evidence_for,
    names_in_glob,
    to_evidence,
)
from leveraudit.analysis.model import effective_values, local_callee, parameter_names
from leveraudit.checks.call_kwarg import call_matches, may_call
from leveraudit.extract.module import dotted_name
from leveraudit.extract.pattern import mentions, walk

_REPORTERS = ("print", "warn", "warning", "info", "error", "debug", "log", "exception", "critical", "echo", "secho",
              "write")

_REQUIREMENT_TEXT = {
    "kept_result": ("its result is kept", "保留了返回值"),
    "reports_missing": ("missing keys are reported", "打印了缺失参数"),
    "reports_unexpected": ("unexpected keys are reported", "打印了多余参数"),
    "raises_on_missing": ("a raise depends on the missing keys", "缺失参数时会 raise"),
}


def _bound_names(module, call) -> tuple[str | None, str | None, str | None]:
    """(missing name, unexpected name, result name) bound from the load's result."""
    parent = module.parent(call)
    if isinstance(parent, cst.Assign) and parent.value is call:
        target = parent.targets[0].target
        if isinstance(target, (cst.Tuple, cst.List)):
            names = [dotted_name(e.value) or None for e in target.elements]
            return (names[0] if names else None, names[1] if len(names) > 1 else None, None)
        name = dotted_name(target)
        return (None, None, name or None)
    if isinstance(parent, cst.AnnAssign) and parent.value is call:
        return (None, None, dotted_name(parent.target) or None)
    return (None, None, None)


def _field_aliases(module, statements, result: str) -> tuple[set[str], set[str]]:
    """Names bound to `result.missing_keys` / `result.unexpected_keys` (also element-wise)."""
    found: dict[str, set[str]] = {"missing_keys": set(), "unexpected_keys": set()}
    for statement in statements:
        for node in module.descendants(statement, cst.Assign):
            if len(node.targets) != 1:
                continue
            target, value = node.targets[0].target, node.value
            pairs = [(target, value)]
            if isinstance(target, (cst.Tuple, cst.List)) and isinstance(value, (cst.Tuple, cst.List)) and \
                    len(target.elements) == len(value.elements):
                pairs = [(t.value, v.value) for t, v in zip(target.elements, value.elements)]
            for name_node, expr in pairs:
                if isinstance(expr, cst.Attribute) and dotted_name(expr.value) == result and expr.attr.value in found:
                    name = dotted_name(name_node)
                    if name:
                        found[expr.attr.value].add(name)
    return found["missing_keys"], found["unexpected_keys"]


def _helper_params(module, call: cst.Call, names: set[str]) -> tuple[cst.FunctionDef | None, set[str]]:
    """A call of a function of this module (or a method of `self`'s class) that receives one of
    `names`: the helper and the parameters that receive them."""
    function = module.enclosing_function(call)
    helper = local_callee(module, call)
    if helper is None or helper is function:
        return None, set()
    params = parameter_names(helper)
    if params and params[0] == "self" and isinstance(call.func, cst.Attribute):
        params = params[1:]
    received = set()
    positional = [a for a in call.args if a.keyword is None and not a.star]
    for param, arg in zip(params, positional):
        if mentions(arg.value, names, module):
            received.add(param)
    for arg in call.args:
        if arg.keyword is not None and arg.keyword.value in params and mentions(arg.value, names, module):
            received.add(arg.keyword.value)
    return helper, received


def _reported(module, statements, names: set[str], depth: int = 2) -> bool:
    for statement in statements:
        for node in module.descendants(statement, cst.Call, cst.Raise, cst.For):
            if type(node) is cst.Call:
                callee = module.resolve(node.func).rsplit(".", 1)[-1]
                if callee in _REPORTERS and mentions(node, names, module):
                    return True
                if depth > 0 and mentions(node, names, module):
                    # `_report_mismatch(missing, unexpected)`: the helper reports its parameter
                    helper, received = _helper_params(module, node, names)
                    if received and _reported(module, [helper.body], received, depth - 1):
                        return True
            elif type(node) is cst.Raise:
                if node.exc is not None and mentions(node.exc, names, module):
                    return True
            elif mentions(node.iter, names, module):
                if any(module.resolve(n.func).rsplit(".", 1)[-1] in _REPORTERS
                       for n in module.descendants(node.body, cst.Call)):
                    return True
    return False


def _derived(module, statements, names: set[str]) -> set[str]:
    """Names assigned from expressions that mention `names` (one step of data flow, repeated)."""
    flows = [(module.words(node.value), {sub.value for target in node.targets
                                         for sub in module.descendants(target.target, cst.Name)})
             for statement in statements for node in module.descendants(statement, cst.Assign)]
    result = set(names)
    for _ in range(3):
        for read, written in flows:
            if not read.isdisjoint(result):
                result |= written
    return result


def _raises_on(module, statements, names: set[str], depth: int = 2) -> bool:
    derived = _derived(module, statements, names)
    for statement in statements:
        for node in module.descendants(statement, cst.If, cst.Assert, cst.Call):
            kind = type(node)
            if kind is cst.If and mentions(node.test, derived, module):
                if module.descendants(node.body, cst.Raise):
                    return True
            elif kind is cst.Assert and mentions(node.test, derived, module):
                return True
            elif kind is cst.Call and depth > 0 and mentions(node, derived, module):
                helper, received = _helper_params(module, node, derived)
                if received and _raises_on(module, [helper.body], received, depth - 1):
                    return True
    return False


def _following_statements(module, call) -> list[cst.CSTNode]:
    function = module.enclosing_function(call)
    if function is None:
        return [module.tree]
    return [function.body]


def _live_module_copy(module, call: cst.Call) -> bool:
    """`target.load_state_dict(other.state_dict())`: copying a live module's weights (a reference
    policy, an EMA) is not a checkpoint load. Decided through locals and `self` attributes: the
    state comes from a `.state_dict()` call and from no call that loads (`torch.load`, a helper)."""
    state = next((a.value for a in call.args if a.keyword is None), None)
    if state is None:
        return False
    resolver = module.resolver()
    seen: set[int] = set()
    todo = list(effective_values(module, state))
    from_state_dict = False
    while todo and len(seen) < 50:
        expr = todo.pop()
        if id(expr) in seen:
            continue
        seen.add(id(expr))
        for node in walk(expr, module if id(expr) in module.parents else None):
            if isinstance(node, cst.Call):
                name = dotted_name(node.func).rsplit(".", 1)[-1]
                if "load" in name.lower():
                    return False   # the state comes (also) from a load: the answer, without more expansion
                from_state_dict = from_state_dict or name == "state_dict"
            elif isinstance(node, (cst.Name, cst.Attribute)) and id(node) in module.parents:
                todo += [v for v in resolver.expand(node) if id(v) not in seen]
    return from_state_dict


class CheckedLoadKind(CheckKind):
    kind = "checked_load"

    def relevant(self, check, text):
        if not any(may_call(text, c) for c in check.calls):
            return False
        return any(all(w in text for w in names_in_glob(g)) for g in check.inside) or any(
            m in text for m in check.mentions)

    def identifiers_only(self, check):
        return not check.mentions   # `mentions` counts string literals too

    def _in_scope(self, check, module, call) -> bool:
        if check.inside and module.is_inside(call, check.inside):
            return True
        if check.mentions:
            function = module.enclosing_function(call)
            if function is not None and mentions(function, set(check.mentions), module):
                return True
        return False

    def segment_relevant(self, check, text):
        return self.relevant(check, text)   # the load, its function and the reporting helpers it calls by name

    def splits_classes(self, check):
        return True

    def scan(self, check, module):
        facts = []
        for call in module.calls:
            if not isinstance(call.func, (cst.Attribute, cst.Name)):
                continue
            if not any(call_matches(module, call, c, 120) for c in check.calls):
                continue
            if not self._in_scope(check, module, call) or not module.is_live(call) or _live_module_copy(module, call):
                continue
            facts.append(self._judge(check, module, call))
        return facts

    def _judge(self, check, module, call):
        function = module.enclosing_function(call)
        where = module.qualname(function) if function is not None else "<module>"
        strict = next((a for a in call.args if a.keyword is not None and a.keyword.value == "strict"), None)
        strict_value = module.literal(strict.value) if strict is not None else (True, True)
        if strict_value == (True, True):
            return evidence_for(module, call, PASS, L(f"`{where}`: strict load (mismatches raise)",
                                                      f"`{where}`：严格加载（不匹配时直接报错）"))
        missing, unexpected, result = _bound_names(module, call)
        statements = _following_statements(module, call)
        missing_names = {n for n in (missing,) if n} | ({"missing_keys"} if result else set())
        unexpected_names = {n for n in (unexpected,) if n} | ({"unexpected_keys"} if result else set())
        if result:  # missing, unexpected = result.missing_keys, result.unexpected_keys
            more_missing, more_unexpected = _field_aliases(module, statements, result)
            missing_names |= more_missing
            unexpected_names |= more_unexpected
        if result:
            missing_names.add(result)
        have = {
            "kept_result": bool(missing or unexpected or result),
            "reports_missing": bool(missing_names) and _reported(module, statements, missing_names),
            "reports_unexpected": bool(unexpected_names) and _reported(module, statements, unexpected_names),
            "raises_on_missing": bool(missing_names) and _raises_on(module, statements, missing_names),
        }
        lacking = [r for r in check.require if not have[r]]
        if lacking:
            return evidence_for(module, call, FAIL, L(
                f"`{where}`: strict=False load, but not: " + ", ".join(_REQUIREMENT_TEXT[r][0] for r in lacking),
                f"`{where}`：strict=False 加载，但缺少：" + "、".join(_REQUIREMENT_TEXT[r][1] for r in lacking)))
        return evidence_for(module, call, PASS, L(
            f"`{where}`: strict=False load with " + ", ".join(_REQUIREMENT_TEXT[r][0] for r in check.require),
            f"`{where}`：strict=False 加载，且" + "、".join(_REQUIREMENT_TEXT[r][1] for r in check.require)))

    def evaluate(self, check, facts, ctx):
        evidence = [to_evidence(f) for f in facts]
        if not evidence:
            return Outcome(FAIL, L("no state-dict load found in scope", "在范围内找不到 checkpoint 加载"))
        passing = sum(e.status == PASS for e in evidence)
        status = aggregate([e.status for e in evidence])
        if status == PASS and len(evidence) < check.min_count:
            status = PARTIAL
        return Outcome(status, L(
            f"{passing}/{len(evidence)} loads are checked" + (f" (at least {check.min_count} loads expected)"
                                                             if len(evidence) < check.min_count else ""),
            f"{len(evidence)} 处加载中 {passing} 处有一致性检查" + (f"（至少应有 {check.min_count} 处）"
                                                         if len(evidence) < check.min_count else "")), evidence)
