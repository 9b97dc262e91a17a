"""`param`: a function or method has a parameter, optionally with an annotation and a default.

Accepts positional, keyword-only and positional-only parameters of every def whose qualified
name matches the glob (`Cls.__init__`, `module_function`, nested `outer.inner`).
"""

from __future__ import annotations

from leveraudit.lazy import cst

from leveraudit.checks.base import (
    FAIL,
    PASS,
    CheckKind,
    L,
    Outcome,
    aggregate,
    constraint_failures,
    evidence_for,
    join,
    may_define,
    names_in_glob,
    text_has_all,
    to_evidence,
)
from leveraudit.extract.pattern import code_of


class ParamKind(CheckKind):
    kind = "param"

    def relevant(self, check, text):
        return text_has_all(text, names_in_glob(check.function))

    def identifiers_only(self, check):
        return True   # class and def names

    def segment_relevant(self, check, text):
        # the def and its enclosing classes are in one top-level definition (a method: with its class's header)
        return may_define(text, check.function)

    def splits_classes(self, check):
        return True

    def follows_names(self, check):
        return False   # the def's own parameters; a default is a literal or a module-level constant

    def scan(self, check, module):
        facts = []
        for function in module.find_defs([check.function], cst.FunctionDef):
            params = module_params(function)
            param = next((p for p in params if p.name.value == check.name), None)
            qual = module.qualname(function)
            if param is None:
                facts.append(evidence_for(module, function.name, FAIL,
                                          L(f"`{qual}` has no parameter `{check.name}`",
                                            f"`{qual}` 没有参数 `{check.name}`")))
                continue
            known, value = module.literal(param.default)
            annotation = code_of(param.annotation.annotation) if param.annotation else None
            fact = evidence_for(module, param, PASS, {})
            problems = []
            if check.annotation and annotation != check.annotation:
                problems.append(L(f"annotation is {annotation}, expected {check.annotation}",
                                  f"类型注解为 {annotation}，应为 {check.annotation}"))
            if check.default is not None:
                if param.default is None:
                    problems.append(L("has no default", "没有默认值"))
                else:
                    problems += constraint_failures(check.default, value, known)
            shown = f"{check.name}" + (f": {annotation}" if annotation else "") + (
                f" = {code_of(param.default)}" if param.default is not None else "")
            if problems:
                fact["status"] = FAIL
                fact["message"] = L(f"`{qual}({shown})`: " + join(problems)["en"], f"`{qual}({shown})`：" + join(problems)["zh"])
            else:
                fact["message"] = L(f"`{qual}` takes `{shown}`", f"`{qual}` 有参数 `{shown}`")
            facts.append(fact)
        return facts

    def evaluate(self, check, facts, ctx):
        if not facts:
            return Outcome(FAIL, L(f"no function matches `{check.function}`", f"找不到函数 `{check.function}`"))
        evidence = [to_evidence(f) for f in facts]
        status = aggregate([e.status for e in evidence])
        return Outcome(status, evidence[0].message if len(evidence) == 1 else
                       L(f"{sum(e.status == PASS for e in evidence)}/{len(evidence)} definitions of `{check.function}` satisfy the check",
                         f"`{check.function}` 的 {len(evidence)} 处定义中 {sum(e.status == PASS for e in evidence)} 处满足要求"), evidence)


def module_params(function: cst.FunctionDef) -> list[cst.Param]:
    params = function.params
    return list(params.posonly_params) + list(params.params) + list(params.kwonly_params)
