"""`attribute`: a class has an attribute, with an optional constraint on its default.

Accepts `self.x = v` / `self.x: T = v` in any method of the class (the first assignment counts as
its default), and class-body fields: `x: T = v`, `x = v`, dataclass `field(default=v)` and pydantic
`Field(v)` / `Field(default=v)`.
"""

from __future__ import annotations

from leveraudit.lazy import cst

from leveraudit.checks.base import (
    FAIL,
    PASS,
    CheckKind,
    L,
    Outcome,
    constraint_failures,
    evidence_for,
    join,
    names_in_glob,
    text_has_all,
    to_evidence,
)
from leveraudit.extract.pattern import walk

_FIELD_CALLS = {"field", "Field", "dataclasses.field", "pydantic.Field", "attr.ib", "attrs.field"}


def _field_default(module, value: cst.BaseExpression | None):
    if isinstance(value, cst.Call) and module.resolve(value.func) in _FIELD_CALLS | {
            f"dataclasses.{n}" for n in ("field",)} | {f"pydantic.{n}" for n in ("Field",)}:
        for arg in value.args:
            if arg.keyword is not None and arg.keyword.value == "default":
                return arg.value
        positional = [a for a in value.args if a.keyword is None]
        return positional[0].value if positional else None
    return value


def find_attribute(module, class_def: cst.ClassDef, name: str):
    """(node, value expression) of the class-body field or the first `self.name = ...`."""
    for statement in class_def.body.body:
        if isinstance(statement, cst.SimpleStatementLine):
            for small in statement.body:
                if isinstance(small, cst.AnnAssign) and isinstance(small.target, cst.Name) and small.target.value == name:
                    return small, _field_default(module, small.value)
                if isinstance(small, cst.Assign) and any(
                        isinstance(t.target, cst.Name) and t.target.value == name for t in small.targets):
                    return small, _field_default(module, small.value)
    first = None
    for node in walk(class_def.body, module):
        if isinstance(node, cst.ClassDef):
            continue
        targets = []
        if isinstance(node, cst.Assign):
            targets = [t.target for t in node.targets]
        elif isinstance(node, cst.AnnAssign):
            targets = [node.target]
        for target in targets:
            if (isinstance(target, cst.Attribute) and target.attr.value == name and isinstance(target.value, cst.Name)
                    and target.value.value == "self"):
                function = module.enclosing_function(node)
                candidate = (node, node.value, function is not None and function.name.value == "__init__")
                if first is None or (candidate[2] and not first[2]):
                    first = candidate
    return (first[0], first[1]) if first else (None, None)


class AttributeKind(CheckKind):
    kind = "attribute"

    def relevant(self, check, text):
        return any(text_has_all(text, names_in_glob(c)) for c in check.class_)

    def identifiers_only(self, check):
        return True   # class names

    def segment_relevant(self, check, text):
        return self.relevant(check, text)   # the class; its bases are kept by name

    def scan(self, check, module):
        facts = []
        for class_def in module.find_defs(check.class_, cst.ClassDef):
            node, value = find_attribute(module, class_def, check.name)
            qual = module.qualname(class_def)
            if node is None:
                facts.append(evidence_for(module, class_def.name, FAIL, L(
                    f"`{qual}` has no attribute `{check.name}`", f"`{qual}` 没有属性 `{check.name}`")))
                continue
            known, literal = module.literal(value)
            problems = constraint_failures(check.default, literal, known) if check.default else []
            shown = module.snippet(node, 100)
            if problems:
                facts.append(evidence_for(module, node, FAIL, L(f"`{shown}`: " + join(problems)["en"],
                                                                f"`{shown}`：" + join(problems)["zh"])))
            else:
                facts.append(evidence_for(module, node, PASS, L(f"`{qual}`: `{shown}`", f"`{qual}`：`{shown}`")))
        return facts

    def evaluate(self, check, facts, ctx):
        classes = " / ".join(check.class_)
        if not facts:
            return Outcome(FAIL, L(f"no class matches `{classes}`", f"找不到类 `{classes}`"))
        evidence = [to_evidence(f) for f in facts]
        having = [e for e in evidence if e.status == PASS]
        if having:
            return Outcome(PASS, having[0].message, having + [e for e in evidence if e.status != PASS and "has no" not in e.message["en"]])
        return Outcome(FAIL, evidence[0].message, evidence)
