"""The JSON contract (`leveraudit.report/1`), sorted keys, stable order."""

from __future__ import annotations

import json

from leveraudit.report.model import Report


def render_json(report: Report, lang: str) -> str:
    return json.dumps(report.to_contract(lang), ensure_ascii=False, indent=2, sort_keys=True) + "\n"
