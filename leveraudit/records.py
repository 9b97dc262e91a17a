"""Checks as a worker process receives them: plain records, so that a worker never imports pydantic.

A check is a pydantic model (`leveraudit.spec.models`); a worker only reads its fields (`scan`,
`relevant`, the sparse-parsing tests) and calls the few methods below. Pickling the model would make
every worker import pydantic and build the spec's models first (about 0.15 s, on the critical path
of a cold run: the warm worker pool is ready only when its imports are done). `record(model)` copies the
fields into a `Record` of this pydantic-free module instead, recursively; `ConstraintRecord` and
`LocalizedRecord` carry the methods a scan may call, which the models share from here (one
implementation each).
"""

from __future__ import annotations

from typing import Any


class Record:
    """A frozen bag of fields, read as attributes, equal when the model and fields are."""

    def __init__(self, model: str, fields: dict[str, Any]) -> None:
        object.__setattr__(self, "__dict__", dict(fields))
        object.__setattr__(self, "_model", model)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{self._model} is frozen")

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and other.__dict__ == self.__dict__

    def __hash__(self) -> int:
        # as a frozen model's: of its fields, so a record holding a list is unhashable like its model
        return hash(tuple(self.__dict__.items()))

    def __repr__(self) -> str:
        fields = ", ".join(f"{k}={v!r}" for k, v in self.__dict__.items() if k != "_model")
        return f"{self._model}Record({fields})"

    def __reduce__(self):
        return _rebuild, (type(self), self._model, {k: v for k, v in self.__dict__.items() if k != "_model"})


def _rebuild(kind: type, model: str, fields: dict[str, Any]) -> Record:
    return kind(model, fields)


def constraint_is_empty(constraint) -> bool:
    return all(getattr(constraint, name) is None
               for name in ("equals", "in_", "lt", "le", "gt", "ge", "lt_option", "le_option"))


def constraint_describe(constraint) -> str:
    parts = []
    for name, symbol in (("equals", "=="), ("lt", "<"), ("le", "<="), ("gt", ">"), ("ge", ">=")):
        value = getattr(constraint, name)
        if value is not None:
            parts.append(f"{symbol} {value!r}")
    if constraint.in_ is not None:
        parts.append(f"in {constraint.in_!r}")
    if constraint.lt_option:
        parts.append(f"< --{constraint.lt_option}")
    if constraint.le_option:
        parts.append(f"<= --{constraint.le_option}")
    return " and ".join(parts)


def localized_get(text, lang: str) -> str:
    if lang == "zh":
        return text.zh or text.en or ""
    return text.en or text.zh or ""


class ConstraintRecord(Record):
    is_empty = constraint_is_empty
    describe = constraint_describe


class LocalizedRecord(Record):
    get = localized_get


_WITH_METHODS = {"Constraint": ConstraintRecord, "Localized": LocalizedRecord}


def record(value: Any) -> Any:
    """`value` with every pydantic model in it (a check, its constraints, its texts) as a `Record`."""
    fields = getattr(type(value), "__pydantic_fields__", None)
    if fields is not None:
        model = type(value).__name__
        return _WITH_METHODS.get(model, Record)(model, {name: record(getattr(value, name)) for name in fields})
    if isinstance(value, list):
        return [record(v) for v in value]
    if isinstance(value, tuple):
        return tuple(record(v) for v in value)
    if isinstance(value, dict):
        return {k: record(v) for k, v in value.items()}
    return value
