"""Load a spec from YAML safely and turn every validation error into `file:line: field: reason`."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from leveraudit.spec.models import CHECK_KINDS, Item, Spec


class SpecError(Exception):
    """A spec that cannot be used; str() is a one-line, human-readable reason."""


@dataclass(frozen=True)
class _Located:
    value: Any
    lines: dict[tuple, int]


_PLAIN_TAGS = {f"tag:yaml.org,2002:{name}" for name in ("str", "int", "float", "bool", "null", "seq", "map")}


MAX_NODES = 50_000  # values built from a spec, aliases expanded: a "billion laughs" stops here
MAX_DEPTH = 64


def _construct(node: yaml.Node, path: tuple, lines: dict[tuple, int], budget: list[int] | None = None) -> Any:
    """Build plain Python values from a composed (safe) YAML node, recording each path's line.
    Aliases share nodes, so every visit counts against a budget: expansion is bounded."""
    budget = budget if budget is not None else [MAX_NODES]
    budget[0] -= 1
    if budget[0] < 0:
        raise SpecError(f"line {node.start_mark.line + 1}: the spec expands to more than {MAX_NODES} values "
                        f"(YAML aliases nested too deep?)")
    if len(path) > MAX_DEPTH:
        raise SpecError(f"line {node.start_mark.line + 1}: nested deeper than {MAX_DEPTH} levels")
    lines[path] = node.start_mark.line + 1
    if node.tag == "tag:yaml.org,2002:timestamp":
        return node.value  # dates stay text (`date: 2025-12-10`)
    if node.tag not in _PLAIN_TAGS:
        raise SpecError(f"line {node.start_mark.line + 1}: YAML tag {node.tag!r} is not allowed in a spec")
    if isinstance(node, yaml.MappingNode):
        result: dict[Any, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                raise SpecError(f"line {key_node.start_mark.line + 1}: YAML merge keys (`<<`) are not supported in a "
                                f"spec; write the keys out")
            key = yaml.safe_load(yaml.serialize(key_node)) if not isinstance(key_node, yaml.ScalarNode) else _scalar(key_node)
            if not isinstance(key, (str, int, float, bool)) and key is not None:
                raise SpecError(f"line {key_node.start_mark.line + 1}: mapping keys must be scalars")
            if key in result:
                raise SpecError(f"line {key_node.start_mark.line + 1}: duplicate key {key!r}")
            lines[path + (str(key),)] = key_node.start_mark.line + 1
            result[key] = _construct(value_node, path + (str(key),), lines, budget)
        return result
    if isinstance(node, yaml.SequenceNode):
        return [_construct(child, path + (index,), lines, budget) for index, child in enumerate(node.value)]
    return _scalar(node)


def _scalar(node: yaml.ScalarNode) -> Any:
    loader = yaml.SafeLoader("")
    try:
        return loader.construct_object(node, deep=True)
    except yaml.YAMLError as exc:
        raise SpecError(f"line {node.start_mark.line + 1}: {getattr(exc, 'problem', None) or exc}") from None
    finally:
        loader.dispose()


def _load_yaml(text: str, source: str) -> _Located:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except RecursionError:
        raise SpecError(f"{source}: YAML nested too deeply") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark else source
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise SpecError(f"{where}: YAML does not parse: {problem}") from None
    if node is None:
        raise SpecError(f"{source}: the spec is empty")
    lines: dict[tuple, int] = {}
    try:
        return _Located(_construct(node, (), lines), lines)
    except SpecError as exc:
        raise SpecError(f"{source}:{str(exc).removeprefix('line ')}") from None


def _model_at(loc: tuple, data: Any) -> type[BaseModel] | None:
    """The pydantic model that owns the field at `loc` (for did-you-mean suggestions)."""
    model: type[BaseModel] | None = Spec
    cursor = data
    index = 0
    while index < len(loc) - 1:
        part = loc[index]
        if model is Spec and part == "items":
            model, cursor, index = Item, cursor["items"][loc[index + 1]], index + 2
            continue
        if model is Item and part == "checks":
            cursor = cursor["checks"][loc[index + 1]]
            index += 2
            # pydantic puts the discriminator tag into loc: skip it
            if index < len(loc) - 1 and loc[index] in CHECK_KINDS:
                index += 1
            model = CHECK_KINDS.get(cursor.get("kind")) if isinstance(cursor, dict) else None
            continue
        field = model.model_fields.get(part) if model else None
        annotation = getattr(field, "annotation", None)
        model = annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None
        cursor = cursor.get(part) if isinstance(cursor, dict) else None
        index += 1
    return model


def _field_names(model: type[BaseModel]) -> list[str]:
    return [field.alias or name for name, field in model.model_fields.items()]


def _describe(loc: tuple) -> str:
    text = ""
    for part in loc:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else str(part))
    return text or "(top level)"


def _line_for(loc: tuple, lines: dict[tuple, int]) -> int:
    for cut in range(len(loc), -1, -1):
        key = tuple(str(p) if not isinstance(p, int) else p for p in loc[:cut])
        if key in lines:
            return lines[key]
    return 1


def _format_error(error: dict, located: _Located, source: str) -> str:
    loc = tuple(part for part in error["loc"] if not (isinstance(part, str) and part in CHECK_KINDS and False))
    # drop discriminator tags pydantic inserts after a list index of checks
    clean: list[Any] = []
    for position, part in enumerate(loc):
        if position and loc[position - 1] != "kind" and isinstance(part, str) and part in CHECK_KINDS:
            previous = loc[position - 1]
            if isinstance(previous, int):
                continue
        clean.append(part)
    clean_loc = tuple(clean)
    line = _line_for(clean_loc, located.lines)
    kind = error["type"]
    field = _describe(clean_loc)
    if kind == "extra_forbidden":
        model = _model_at(clean_loc, located.value)
        hint = ""
        if model is not None:
            close = difflib.get_close_matches(str(clean_loc[-1]), _field_names(model), n=1, cutoff=0.5)
            if close:
                hint = f"; did you mean {close[0]!r}?"
        return f"{source}:{line}: {field}: unknown key{hint}"
    if kind == "union_tag_invalid":
        given = error.get("ctx", {}).get("tag")
        close = difflib.get_close_matches(str(given), list(CHECK_KINDS), n=1, cutoff=0.5)
        hint = f"; did you mean {close[0]!r}?" if close else f"; known kinds: {', '.join(sorted(CHECK_KINDS))}"
        line = _line_for(clean_loc + ("kind",), located.lines)
        return f"{source}:{line}: {field}.kind: unknown check kind {given!r}{hint}"
    if kind == "union_tag_not_found":
        return f"{source}:{line}: {field}: a check needs a `kind` ({', '.join(sorted(CHECK_KINDS))})"
    if kind == "missing":
        return f"{source}:{line}: {field}: required field is missing"
    message = error["msg"]
    if message.startswith("Value error, "):
        message = message[len("Value error, "):]
    return f"{source}:{line}: {field}: {message}"


def parse_spec(text: str, source: str = "<spec>") -> Spec:
    located = _load_yaml(text, source)
    if not isinstance(located.value, dict):
        raise SpecError(f"{source}:1: the spec must be a mapping with `version`, `title` and `items`")
    try:
        spec = Spec.model_validate(located.value)
    except ValidationError as exc:
        # an unknown key first: `dset:` explains the "dest: required" that comes with it
        errors = sorted(exc.errors(include_url=False), key=lambda e: e["type"] != "extra_forbidden")
        first = _format_error(errors[0], located, source)
        more = f" (and {len(errors) - 1} more error{'s' if len(errors) > 2 else ''})" if len(errors) > 1 else ""
        raise SpecError(first + more) from None
    _check_snippets(spec, located, source)
    for i, item in enumerate(spec.items):
        for j in range(len(item.checks)):
            spec._check_lines[item.check_id(j)] = _line_for(("items", i, "checks", j), located.lines)
    return spec


# Fields that hold Python snippets (patterns), per kind; compiled at load so a typo is exit 2 with its
# line, not a ⛔ at audit time.
_SNIPPETS = {"guard": ("condition", "before", "after"), "loop_filter": ("condition", "before", "iter"),
             "branch": ("condition", "then", "else"), "pattern": ("pattern", "inside"), "call_kwarg": ("value",)}
_REGEXES = {"pattern": ("mentions",)}


def _check_snippets(spec: Spec, located: _Located, source: str) -> None:
    import re

    from leveraudit.extract.pattern import PatternError, check_pattern

    for i, item in enumerate(spec.items):
        for j, check in enumerate(item.checks):
            fields = {name: check.model_dump(by_alias=True).get(name) for name in _SNIPPETS.get(check.kind, ())}
            if check.kind == "assigns_key" and check.derived_from is not None:
                fields["derived_from.condition"] = check.derived_from.condition
            for name, value in fields.items():
                for text in ([value] if isinstance(value, str) else value or []):
                    try:
                        check_pattern(text)
                    except PatternError as exc:
                        loc = ("items", i, "checks", j, *name.split("."))
                        raise SpecError(f"{source}:{_line_for(loc, located.lines)}: {_describe(loc)}: {exc}") from None
            for name in _REGEXES.get(check.kind, ()):
                value = getattr(check, name, None)
                if value is not None:
                    try:
                        re.compile(value)
                    except re.error as exc:
                        loc = ("items", i, "checks", j, name)
                        raise SpecError(f"{source}:{_line_for(loc, located.lines)}: {_describe(loc)}: "
                                        f"not a valid regex: {exc}") from None


def load_spec(path: Path | str) -> Spec:
    from leveraudit.userfiles import UserFileError, read_user_file

    path = Path(path)
    try:
        text = read_user_file(path, "spec")
    except UserFileError as exc:
        raise SpecError(str(exc)) from None
    return parse_spec(text, str(path))


def all_errors(text: str, source: str = "<spec>") -> list[str]:
    """Every validation error, one line each (for `leveraudit validate`-style use and tests)."""
    located = _load_yaml(text, source)
    try:
        Spec.model_validate(located.value)
    except ValidationError as exc:
        return [_format_error(error, located, source) for error in exc.errors(include_url=False)]
    return []
