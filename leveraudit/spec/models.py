"""The spec language: pydantic models, strict (``extra="forbid"``) so typos are errors.

A spec is data: items (a plan's requirements) hold checks; each check ``kind`` is one model
below and one module under ``leveraudit.checks``.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal, Union

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, PrivateAttr, WithJsonSchema, field_validator, model_validator

from leveraudit.records import constraint_describe, constraint_is_empty, localized_get

Lang = Literal["zh", "en"]
Level = Literal["required", "advisory"]
Priority = Literal["high", "medium", "low"]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Localized(Strict):
    """Text in both report languages; a plain string in YAML stands for both."""

    zh: str | None = None
    en: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _from_plain_string(cls, value: Any) -> Any:
        if isinstance(value, str):
            return {"zh": value, "en": value}
        return value

    @classmethod
    def __get_pydantic_json_schema__(cls, core_schema, handler):
        # the schema must accept what the loader accepts: a plain string stands for both languages
        return {"anyOf": [{"type": "string"}, handler(core_schema)]}

    get = localized_get   # shared with the record a worker receives (leveraudit.records)


class Constraint(Strict):
    """A condition on a statically known value (an option's default, a parameter's default)."""

    equals: Any = None
    in_: list[Any] | None = Field(default=None, alias="in")
    lt: float | None = None
    le: float | None = None
    gt: float | None = None
    ge: float | None = None
    lt_option: str | None = Field(default=None, description="strictly below the default of the option with this dest")
    le_option: str | None = None

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    # shared with the record a worker receives (leveraudit.records)
    is_empty = constraint_is_empty
    describe = constraint_describe


PatternText = Annotated[str, Field(min_length=1, description="a Python snippet; $X metavariables, ... wildcards")]


def _listify(value: Any) -> Any:
    return [value] if isinstance(value, str) else value


def _one_or_many_schema(item: dict) -> dict:
    return {"anyOf": [item, {"type": "array", "items": item}]}


def _valid_globs(globs: list[str] | None) -> list[str] | None:
    """Compile every path glob at load, so a broken one (`[9-0]`) is an error with its YAML line."""
    from leveraudit.extract.discover import glob_to_regex

    for glob in globs or []:
        glob_to_regex(glob.split("::", 1)[0])
    return globs


# YAML lets a single value stand for a one-element list: `inside: GRPOTrainer.train`
Names = Annotated[list[str], BeforeValidator(_listify), WithJsonSchema(_one_or_many_schema({"type": "string"}))]
Globs = Annotated[list[str], BeforeValidator(_listify), AfterValidator(_valid_globs),
                  WithJsonSchema(_one_or_many_schema({"type": "string"}))]
Patterns = Annotated[list[PatternText], BeforeValidator(_listify),
                     WithJsonSchema(_one_or_many_schema({"type": "string", "minLength": 1}))]


class AutoFix(Strict):
    """How `leveraudit fix` closes a mechanical gap. Templates are Python; placeholders: metavariables of
    `after` / `where` matches (`$C`), `$ITEM` (a loop's target), `$ARGS` (the argparse namespace in scope)."""

    template: str | None = Field(default=None, description="code to insert (or the parameter, for `param`)")
    after: PatternText | None = Field(default=None, description="assigns_key: insert after statements matching this")
    where: PatternText | None = Field(default=None, description="loop_filter: only loops whose iterable matches")
    near: str | None = Field(default=None, description="cli_option: add to the parser that defines this dest")
    body: list[str] = Field(default_factory=list, description="param: statements added at the top of the function")
    value: str | None = Field(default=None, description="call_kwarg: the keyword's value")


class CheckBase(Strict):
    id: str | None = Field(default=None, description="stable id; defaults to <item>/<kind>#<n>")
    autofix: AutoFix | None = Field(default=None, description="a safe mechanical fix (`leveraudit fix`)")
    level: Level = "required"
    files: Annotated[list[str] | None, AfterValidator(_valid_globs)] = Field(
        default=None, description="globs that only narrow where to look")
    title: Localized | None = Field(default=None, description="what the check proves, shown in reports")
    message: Localized | None = Field(default=None, description="extra note shown when the check does not pass")


class EveryCheck(CheckBase):
    min_count: int = Field(default=1, ge=1, description="matches needed; zero never passes vacuously")


class CliOptionCheck(CheckBase):
    """An option of a CLI (argparse, typer) identified by its dest."""

    kind: Literal["cli_option"]
    dest: str
    flag: str | None = Field(default=None, description="a flag spelling the option must have (- and _ are equivalent)")
    action: str | None = Field(default=None, description="store_true, store_false, store_const, switch, ...")
    default: Constraint | None = None
    help_mentions: str | None = Field(default=None, description="regex the option's help text must match "
                                                                "(e.g. that it states the recommended recipe)")

    @field_validator("help_mentions")
    @classmethod
    def _valid_regex(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                re.compile(value)
            except re.error as exc:
                raise ValueError(f"help_mentions is not a valid regex: {exc}") from None
        return value


class ParamCheck(CheckBase):
    """A function or method parameter."""

    kind: Literal["param"]
    function: str = Field(description="qualified-name glob, e.g. RLBeamDatasetWithEmbedding.__init__")
    name: str
    annotation: str | None = None
    default: Constraint | None = None


class AttributeCheck(CheckBase):
    """An attribute of a class: self.x = v in a method, or a dataclass / pydantic field."""

    kind: Literal["attribute"]
    class_: Names = Field(alias="class", description="class-name globs (alternatives)")
    name: str
    default: Constraint | None = None

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)



class GuardCheck(CheckBase):
    """Inside a function, when a condition holds, the protected work cannot run (and `after` work still does)."""

    kind: Literal["guard"]
    inside: Names = Field(description="qualified-name globs of the function holding the guard")
    condition: PatternText
    exits: list[Literal["return", "raise", "continue", "break"]] = ["return", "raise"]
    before: Patterns = Field(description="the protected work: statements that must not run when the condition holds")
    after: Patterns | None = Field(default=None, description="statements that must still run when the condition holds "
                                                           "(the guard comes after them)")
    body_calls: Names | None = Field(default=None, description="callee globs the guard body must call (e.g. print)")



class DerivedFrom(Strict):
    """Which condition a key's value must follow, and the values chosen when it holds or not."""

    condition: Patterns = Field(description="the condition (alternatives), e.g. used_file_metric")
    then: Any = Field(description="the value when the condition holds")
    else_: Any = Field(alias="else", description="the value otherwise")

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class AssignsKeyCheck(EveryCheck):
    """A key is assigned: c["k"] = v, c.update(k=v), dict(k=v), {"k": v} or Model(k=v)."""

    kind: Literal["assigns_key"]
    key: str
    values: list[Any] | None = Field(default=None, description="allowed literal values")
    inside: Names | None = None
    constructors: Names | None = Field(
        default=None, description="callee globs whose keyword k counts as the key (default: dict and any CamelCase class)"
    )
    derived_from: DerivedFrom | None = Field(default=None, description="the condition the value must follow, with "
                                                                       "the right polarity")



class LoopFilterCheck(CheckBase):
    """In a loop, an item for which every `condition` holds never reaches the statements that record it."""

    kind: Literal["loop_filter"]
    inside: Names
    iter: PatternText | None = Field(default=None, description="pattern the loop's iterable must match")
    condition: Patterns = Field(description="patterns that together identify the items to skip")
    before: Patterns | None = Field(default=None, description="statements that record the item; a skipped item must "
                                                            "not reach them (default: the end of the loop body)")
    exits: list[Literal["continue", "break", "return", "raise"]] = ["continue"]



class CallKwargCheck(EveryCheck):
    """Every call of a callee (resolved through import aliases) passes a keyword."""

    kind: Literal["call_kwarg"]
    callee: str = Field(description="name or dotted-name glob of the callee")
    keyword: str
    value: PatternText | None = Field(default=None, description="pattern the keyword's value must match")


class FlowsCheck(EveryCheck):
    """A CLI option's value reaches an attribute or keyword (x.attr = args.dest, Cls(attr=args.dest))."""

    kind: Literal["flows"]
    option: str = Field(description="dest of the CLI option")
    to: str = Field(description="attribute or keyword name it must reach")


LoadRequirement = Literal["kept_result", "reports_missing", "reports_unexpected", "raises_on_missing"]


class CheckedLoadCheck(EveryCheck):
    """Every state-dict load in scope keeps its result, reports mismatches and raises on them."""

    kind: Literal["checked_load"]
    calls: Names = ["load_state_dict"]
    inside: Names = Field(default_factory=list, description="qualified-name globs of enclosing scopes")
    mentions: Names = Field(default_factory=list, description="also any function mentioning one of these names")
    require: list[LoadRequirement] = ["kept_result", "reports_missing", "reports_unexpected", "raises_on_missing"]


    @model_validator(mode="after")
    def _has_scope(self) -> "CheckedLoadCheck":
        if not self.inside and not self.mentions:
            raise ValueError("checked_load needs `inside` or `mentions` to name the loads in scope")
        return self


class BranchCheck(CheckBase):
    """An if (statement or expression) on a condition selects one expression, else another."""

    kind: Literal["branch"]
    inside: Names | None = None
    condition: PatternText
    then: PatternText
    else_: PatternText = Field(alias="else")
    used_by: Names | None = Field(default=None, description="callee globs: the selected value must reach an argument "
                                                           "of such a call")

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class PatternCheck(EveryCheck):
    """A structural pattern (alternatives), optionally inside another pattern or scope, or negated."""

    kind: Literal["pattern"]
    pattern: Patterns = Field(description="alternatives; $X metavariables, ... wildcards")
    inside: PatternText | None = Field(default=None, description="pattern of an enclosing node")
    scope: Names | None = Field(default=None, description="qualified-name globs of enclosing defs")
    mentions: str | None = Field(default=None, description="regex the matched code must contain")
    negate: bool = Field(default=False, description="pass when nothing matches")
    follow: bool = Field(default=False, description="match through locals and one-line helpers "
                                                    "(`ps = [...]; AdamW(ps)` matches `$O([...])`)")



class InvocationsValidCheck(CheckBase):
    """Every flag that scripts and docs pass to the repository's programs exists, and none overrides a
    default the plan pins."""

    kind: Literal["invocations_valid"]
    scripts: Globs = Field(default_factory=lambda: ["**/*.sh", "**/*.bash"], description="shell script globs")
    docs: Globs = Field(default_factory=lambda: ["**/*.md"], description="Markdown globs (fenced shell blocks)")
    programs: Names | None = Field(default=None, description="only invocations of programs whose file matches")
    pinned: dict[str, Constraint] = Field(default_factory=dict, description="dest -> constraint on passed values")


class ConfigMatchesCliCheck(CheckBase):
    """YAML config keys that name CLI options agree with the options' effective defaults."""

    kind: Literal["config_matches_cli"]
    configs: Globs = Field(default_factory=lambda: ["**/*.yaml", "**/*.yml"], description="YAML config globs")
    pinned: dict[str, Constraint] = Field(default_factory=dict, description="dest -> the plan's value (decides which side is stale)")


class DocsFlagsExistCheck(CheckBase):
    """Every `--flag` that docs mention in inline code is defined by some program."""

    kind: Literal["docs_flags_exist"]
    docs: Globs = Field(default_factory=lambda: ["**/*.md"], description="Markdown globs")
    ignore: Names = Field(default_factory=list, description="flags that belong to other tools (e.g. --cov)")


Check = Annotated[
    Union[
        CliOptionCheck,
        ParamCheck,
        AttributeCheck,
        GuardCheck,
        AssignsKeyCheck,
        LoopFilterCheck,
        CallKwargCheck,
        FlowsCheck,
        CheckedLoadCheck,
        BranchCheck,
        PatternCheck,
        InvocationsValidCheck,
        ConfigMatchesCliCheck,
        DocsFlagsExistCheck,
    ],
    Field(discriminator="kind"),
]

CHECK_KINDS: dict[str, type[CheckBase]] = {
    model.model_fields["kind"].annotation.__args__[0]: model  # type: ignore[union-attr]
    for model in Check.__origin__.__args__  # type: ignore[attr-defined]
}

_ITEM_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")


class Program(Strict):
    """A program the plan talks about: entry files and everything they import inside the tree."""

    entry: Globs = Field(description="path globs of entry files; `glob::Symbol` also requires that top-level name")


class Item(Strict):
    id: str
    title: Localized
    priority: Priority
    requirement: Localized | None = None
    fix: Localized | None = None
    programs: Names | None = Field(default=None, description="names of spec programs; only their code decides the "
                                                             "item (matches elsewhere are notes)")
    checks: list[Check] = Field(min_length=1)

    @field_validator("id")
    @classmethod
    def _id_shape(cls, value: str) -> str:
        if not _ITEM_ID.match(value):
            raise ValueError("item ids use letters, digits, '.', '_' and '-'")
        return value

    @model_validator(mode="after")
    def _has_required_check(self) -> "Item":
        if not any(check.level == "required" for check in self.checks):
            raise ValueError(f"item {self.id} has no required check, so it could never fail")
        return self

    def check_id(self, index: int) -> str:
        check = self.checks[index]
        if check.id:
            return check.id
        same_kind = [c for c in self.checks[: index + 1] if c.kind == check.kind and not c.id]
        return f"{self.id}/{check.kind}#{len(same_kind)}"


class Plan(Strict):
    title: str | None = None
    path: str | None = None
    date: str | None = None


class Waiver(Strict):
    """Accept a known gap that has no line to put an inline suppression on."""

    id: str = Field(description="item id or check id")
    reason: str = Field(min_length=1, description="why the gap is accepted (required)")


class Spec(Strict):
    version: int = Field(description="the spec format version; only 1 exists", json_schema_extra={"const": 1})
    title: Localized
    lang: Lang = "zh"
    plan: Plan | None = None
    include: Annotated[list[str], AfterValidator(_valid_globs)] = ["**/*.py"]
    exclude: Annotated[list[str], AfterValidator(_valid_globs)] = []
    programs: dict[str, Program] = Field(default_factory=dict, description="programs by name, for items' `programs`")
    items: list[Item] = Field(min_length=1)
    waive: list[Waiver] = Field(default_factory=list, description="spec-level suppressions, each with a reason")
    _check_lines: dict[str, int] = PrivateAttr(default_factory=dict)  # check id -> its line in the YAML

    def check_line(self, check_id: str) -> int:
        """The spec line that defines a check (where a report locates a requirement with no code)."""
        return self._check_lines.get(check_id, 1)

    @field_validator("version")
    @classmethod
    def _known_version(cls, version: int) -> int:
        if version != 1:  # a newer format read as version 1 would be misread silently
            raise ValueError(f"spec format version {version} is not supported (this leveraudit reads version 1)")
        return version

    @model_validator(mode="after")
    def _waivers_name_known_ids(self) -> "Spec":
        known = {item.id for item in self.items} | {check_id for _, check_id, _ in self.iter_checks()}
        for waiver in self.waive:
            if waiver.id not in known:
                raise ValueError(f"waive names unknown id {waiver.id!r}")
        return self

    @model_validator(mode="after")
    def _programs_exist(self) -> "Spec":
        for item in self.items:
            for name in item.programs or []:
                if name not in self.programs:
                    known = ", ".join(sorted(self.programs)) or "none declared"
                    raise ValueError(f"item {item.id} names unknown program {name!r} (programs: {known})")
        return self

    @model_validator(mode="after")
    def _unique_ids(self) -> "Spec":
        seen: set[str] = set()
        for item in self.items:
            for index in range(len(item.checks)):
                for identifier in (item.id if index == 0 else None, item.check_id(index)):
                    if identifier is None:
                        continue
                    if identifier in seen:
                        raise ValueError(f"duplicate id {identifier!r}")
                    seen.add(identifier)
        return self

    def iter_checks(self):
        """(item, check id, check) in spec order."""
        for item in self.items:
            for index, check in enumerate(item.checks):
                yield item, item.check_id(index), check
