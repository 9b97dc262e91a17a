"""Rich terminal output: a table of items, then what is missing and where."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table
from rich.text import Text

from leveraudit.report.i18n import ICON, diagnostic_key, pick, progress_line, t
from leveraudit.report.model import Report

_STYLE = {"pass": "green", "partial": "yellow", "fail": "red", "error": "magenta", "warn": "yellow", "suppressed": "blue"}


def render_terminal(report: Report, lang: str, console: Console | None = None, verbose: bool = False) -> None:
    console = console or Console()
    title = pick(report.spec_title, lang)
    table = Table(title=title, title_justify="left", show_lines=False, expand=False)
    id_width = max([len(item.id) for item in report.items] + [len(t(lang, "col_item"))])
    table.add_column(t(lang, "col_item"), no_wrap=True, min_width=id_width)
    table.add_column("", overflow="fold")
    table.add_column(t(lang, "col_status"), no_wrap=True, min_width=12)
    table.add_column(t(lang, "col_priority"), no_wrap=True, min_width=6)
    for item in report.items:
        warn = " ⚠️" if item.advisories() else ""
        table.add_row(Text(item.id, style="bold"), pick(item.title, lang),
                      Text(f"{ICON[item.status]} {t(lang, 'status_' + item.status)}{warn}", style=_STYLE[item.status]),
                      t(lang, item.priority))
    console.print(table)
    for item in report.items:
        shown = [c for c in item.checks if c.status != "pass" or verbose]
        if not shown:
            continue
        console.print(Text(f"{ICON[item.status]} {item.id} {pick(item.title, lang)}", style=f"bold {_STYLE[item.status]}"))
        for check in shown:
            advisory_gap = check.level == "advisory" and check.status not in ("pass", "suppressed")
            style = "yellow" if advisory_gap else _STYLE[check.status]
            icon = "⚠️" if advisory_gap else ICON[check.status]
            console.print(Text(f"  {icon} {check.id}: ", style=style) + Text(pick(check.message, lang)))
            for evidence in check.evidence[:8]:
                if evidence.status == "pass" and not verbose:
                    continue
                message = pick(evidence.message, lang)
                detail = "" if message == pick(check.message, lang) else message
                console.print(Text(f"      {evidence.path}:{evidence.line} ", style="cyan") + Text(detail, style="dim"))
            for note in check.notes:
                console.print(Text(f"      📝 {pick(note, lang)}", style="dim"))
    for diagnostic in report.diagnostics:
        key = diagnostic_key(diagnostic.kind)
        console.print(Text("  ! " + t(lang, key, path=diagnostic.path, line=diagnostic.line, column=diagnostic.column,
                                      message=diagnostic.message).replace("`", ""), style="magenta"))
    console.print(Text(progress_line(report.summary, lang).replace("**", ""), style="bold"))
