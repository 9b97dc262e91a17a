"""`flows`: a CLI option's value reaches an attribute or keyword.

Accepts `x.attr = args.dest`, `x["attr"] = args.dest`, `Cls(attr=args.dest)` and `f(attr=cfg.dest)`
(any receiver: `args`, `opts`, a config object), and inside a typer/click command function the
bare parameter: `Cls(attr=dest)`. The option itself must exist.
"""

from __future__ import annotations

import libcst as cst

from leveraudit.checks.base import FAIL, PARTIAL, PASS, CheckKind, L, Outcome, evidence_for, to_evidence
from leveraudit.extract.discover import GlobSet
from leveraudit.extract.pattern import key_access, walk


def _carries(module, value: cst.BaseExpression, option: str) -> str | None:
    """'attr' when the value reads `<x>.option` / `<x>["option"]`, 'name' for a bare `option`."""
    for node in walk(value, module):
        access = key_access(node)
        if access is not None and access[1] == option:
            return "attr"
        if isinstance(node, cst.Name) and node.value == option:
            return "name"
    return None


class FlowsKind(CheckKind):
    kind = "flows"
    needs_cli = True

    def cli_dests(self, check):
        return {check.option}

    def relevant(self, check, text):
        return check.option in text and check.to in text

    def scan(self, check, module):
        facts = []
        for node in walk(module.tree, module):
            value = None
            if isinstance(node, cst.Assign):
                for target in node.targets:
                    access = key_access(target.target)
                    if access is not None and access[1] == check.to and not isinstance(target.target, cst.Call):
                        value = node.value
            elif isinstance(node, cst.Arg) and node.keyword is not None and node.keyword.value == check.to:
                value = node.value
            if value is None:
                continue
            how = _carries(module, value, check.option)
            if how is None:
                continue
            function = module.enclosing_function(node)
            fact = evidence_for(module, node, PASS, L(f"`{module.snippet(node, 100)}`", f"`{module.snippet(node, 100)}`"))
            fact["how"] = how
            fact["function"] = f"{module.rel}::{module.qualname(function)}" if function is not None else ""
            facts.append(fact)
        return facts

    def evaluate(self, check, facts, ctx):
        files = GlobSet(check.files) if check.files else None
        options = ctx.options(check.option, files)
        if not options:
            return Outcome(FAIL, L(f"no CLI option `{check.option}` to flow from",
                                   f"没有命令行参数 `{check.option}`，无从传递"))
        commands = {o.program for o in options if o.framework in ("typer", "click")}
        flowing = [f for f in facts if f["how"] == "attr" or f["function"] in commands]
        evidence = [to_evidence(f) for f in flowing]
        if not evidence:
            return Outcome(FAIL, L(f"the value of `--{check.option}` never reaches `{check.to}`",
                                   f"`--{check.option}` 的值没有传到 `{check.to}`"))
        if len(evidence) < check.min_count:
            return Outcome(PARTIAL, L(f"`--{check.option}` reaches `{check.to}` {len(evidence)} time(s), expected {check.min_count}",
                                      f"`--{check.option}` 只有 {len(evidence)} 处传到 `{check.to}`，需要 {check.min_count} 处"), evidence)
        return Outcome(PASS, L(f"`--{check.option}` reaches `{check.to}`: {evidence[0].message['en']}",
                               f"`--{check.option}` 传到了 `{check.to}`：{evidence[0].message['zh']}"), evidence)
