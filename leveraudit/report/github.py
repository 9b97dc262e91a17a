"""GitHub Actions workflow commands: one annotation per non-passing piece of evidence."""

from __future__ import annotations

from leveraudit.report.i18n import pick
from leveraudit.report.model import Report


def _escape(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _prop(text: str) -> str:
    return _escape(text).replace(":", "%3A").replace(",", "%2C")


def render_github(report: Report, lang: str) -> str:
    lines = []
    for item in report.items:
        for check in item.checks:
            if check.status == "pass":
                continue
            if check.level == "advisory" or check.status == "suppressed":
                command = "notice"
            else:
                command = "error" if check.status in ("fail", "error") else "warning"
            title = _prop(f"{check.id} ({item.status})")
            failing = [e for e in check.evidence if e.status != "pass"]
            if not failing:
                lines.append(f"::{command} title={title}::{_escape(pick(check.message, lang))}")
            for evidence in failing:
                lines.append(f"::{command} file={_prop(evidence.path)},line={evidence.line},"
                             f"endLine={evidence.end_line},title={title}::{_escape(pick(evidence.message, lang))}")
    summary = report.summary
    lines.append(f"{summary.pass_}/{summary.items} items pass ({summary.progress * 100:.1f}%)")
    return "\n".join(lines) + "\n"
