"""The JSON contract (`leveraudit.report/1`), sorted keys, stable order.

Indented like `json.dumps(indent=2, sort_keys=True)`, except that each evidence record and each
diagnostic is one line: a report of a big tree holds tens of thousands of them, Python's indenting
encoder is pure Python while the compact one is C (twice as fast on a 12 MB report, a third smaller),
and one record per line reads and diffs better than eight.
"""

from __future__ import annotations

import json

from leveraudit.report.model import Report

_ONE_LINE_ITEMS = frozenset({"evidence", "diagnostics"})   # lists whose records are written one per line
# one encoder for every value: `json.dumps` with options builds a new one per call
_ENCODER = json.JSONEncoder(ensure_ascii=False, sort_keys=True)
_COMPACT = _ENCODER.encode
# the C encoder itself, made once: `encode` builds one per call (0.1 s per 30,000 records). No circular-
# reference markers: a record is built by the report model from plain facts and holds no cycle.
try:
    from json.encoder import c_make_encoder, encode_basestring

    _C_ITER = c_make_encoder(None, _ENCODER.default, encode_basestring, None, ": ", ", ", True, False, True) \
        if c_make_encoder is not None else None
except ImportError:   # an interpreter without CPython's accelerator
    _C_ITER = None


def _record(value) -> str:
    """One evidence record or diagnostic, compact: exactly `_COMPACT(value)` (tested)."""
    if _C_ITER is not None and isinstance(value, dict):
        return "".join(_C_ITER(value, 0))
    return _COMPACT(value)


def render_json(report: Report, lang: str) -> str:
    # every piece goes to one list joined once: concatenating per level copied the whole report once per
    # nesting level (twice the time on transformers' 8 MB heavy report)
    out: list[str] = []
    _encode(report.to_contract(lang), 0, out)
    out.append("\n")
    return "".join(out)


def _encode(value, level: int, out: list[str]) -> None:
    if not isinstance(value, (dict, list)) or not value:
        out.append(_COMPACT(value))
        return
    inner, outer = "\n" + "  " * (level + 1), "\n" + "  " * level
    separator = inner
    if isinstance(value, dict):
        out.append("{")
        for key in sorted(value):
            out.append(separator)
            separator = "," + inner
            out.append(_COMPACT(key))
            out.append(": ")
            member = value[key]
            if key in _ONE_LINE_ITEMS and isinstance(member, list) and member:
                record_inner = "\n" + "  " * (level + 2)
                out.append("[" + record_inner)
                out.append(("," + record_inner).join([_record(item) for item in member]))
                out.append(inner + "]")
            else:
                _encode(member, level + 1, out)
        out.append(outer + "}")
        return
    out.append("[")
    for item in value:
        out.append(separator)
        separator = "," + inner
        _encode(item, level + 1, out)
    out.append(outer + "]")
