"""`flows`: a CLI option's value reaches an attribute or keyword.

Accepts `x.attr = args.dest`, `x["attr"] = args.dest`, `Cls(attr=args.dest)` and `f(attr=cfg.dest)`
(any receiver: `args`, `opts`, a config object), and inside a typer/click command function the
bare parameter: `Cls(attr=dest)`; a literal assigned only under a test of the option
(`if args.dest: trainer.attr = True`) carries it too. Values follow locals (`flag = args.dest; trainer.attr = flag`),
and a later write kills an earlier one: `trainer.attr = args.dest` followed by
`trainer.attr = False` before the trainer is used does not flow, nor does `args.dest = False`
before the copy. Code no path reaches does not count. The option itself must exist.
"""

from __future__ import annotations

from leveraudit.lazy import cst

from leveraudit.analysis.dataflow import access_path
from leveraudit.analysis.model import effective_values
from leveraudit.checks.base import FAIL, PARTIAL, PASS, CheckKind, L, Outcome, evidence_for, to_evidence
from leveraudit.extract.discover import GlobSet
from leveraudit.extract.pattern import key_access


def _carries(module, value: cst.BaseExpression, option: str) -> str | None:
    """'attr' when the value reads `<x>.option` / `<x>["option"]`, 'name' for a bare `option`."""
    for node in module.walk(value):
        access = key_access(node)
        if access is not None and access[1] == option:
            return "attr"
        if isinstance(node, cst.Name) and node.value == option:
            parent = module.parent(node)
            if not (isinstance(parent, cst.Attribute) and parent.attr is node):
                return "name"
    return None


def _under_the_option(module, node, option: str) -> bool:
    """`if args.option: trainer.option = True`: a literal assigned only under a test of the option."""
    for ancestor in module.ancestors(node):
        if isinstance(ancestor, (cst.FunctionDef, cst.ClassDef)):
            return False
        if isinstance(ancestor, cst.If) and _carries(module, ancestor.test, option) == "attr":
            return True
    return False


def _carried(module, value: cst.BaseExpression, option: str) -> str | None:
    """How every value the expression may hold here carries the option (None if one does not)."""
    if module.literal(value)[0] and _under_the_option(module, value, option):
        return "attr"
    hows = {_carries(module, v, option) if id(v) in module.parents else None for v in effective_values(module, value)}
    return None if None in hows or not hows else sorted(hows)[0]


def _survives(module, assign: cst.Assign, key: str) -> bool:
    """The write `key = ...` is still the value when the receiver is next used (or the function ends)."""
    function = module.enclosing_function(assign)
    model = module.function_model(function)
    index = model.node(assign)
    root = key.split(".")[0]
    uses = [n for n in module.descendants(function.body if function is not None else module.tree, cst.Name)
            if n.value == root and model.node(n) not in (None, index)
            and module.enclosing_function(n) is function]
    defined_at = {model.reaching.definitions[i].node for i in range(len(model.reaching.definitions))
                  if model.reaching.definitions[i].key == key}
    points = [model.definitions_at(n, key) for n in uses if model.node(n) not in defined_at]  # a rewrite is no use
    points.append(model.definitions_at_exit(key))
    return any(defs is not None and any(d.node == index for d in defs) for defs in points)


class FlowsKind(CheckKind):
    kind = "flows"
    needs_cli = True

    def cli_dests(self, check):
        return {check.option}

    def relevant(self, check, text):
        return check.option in text and check.to in text

    def scan(self, check, module):
        facts = []
        for node in module.walk(module.tree):
            value, written = None, None
            if isinstance(node, cst.Assign):
                for target in node.targets:
                    access = key_access(target.target)
                    if access is not None and access[1] == check.to and not isinstance(target.target, cst.Call):
                        value, written = node.value, target.target
            elif isinstance(node, cst.Arg) and node.keyword is not None and node.keyword.value == check.to:
                value = node.value
            if value is None or not module.is_live(node):
                continue
            how = _carried(module, value, check.option)
            if how is None:
                continue
            key = access_path(written) if written is not None else ""
            if key and not _survives(module, node, key):
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
