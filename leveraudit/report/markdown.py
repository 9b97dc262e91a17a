"""Markdown in the structure of the hand-written seed report, computed instead of typed."""

from __future__ import annotations

from leveraudit.report.i18n import ICON, diagnostic_key, pick, progress_line, t, where_suppressed
from leveraudit.report.model import PRIORITY_ORDER, ItemResult, Report

MAX_EVIDENCE_PER_CHECK = 6


def _evidence_lines(item: ItemResult, lang: str) -> list[str]:
    lines = []
    for check in item.checks:
        if check.level == "advisory":
            continue
        lines += _check_lines(check, lang, advisory=False)
    return lines


def _check_lines(check, lang: str, advisory: bool) -> list[str]:
    lines = []
    title = pick(check.title, lang)
    if not check.evidence:
        icon = "⚠️" if advisory and check.status != "pass" else ICON[check.status]
        text = pick(check.message, lang)
        if title and not advisory:
            text = f"{title}{'：' if lang == 'zh' else ': '}{text}"
        lines.append(f"- {icon} {text}")
    for evidence in check.evidence[:MAX_EVIDENCE_PER_CHECK]:
        status = evidence.status
        if advisory and status not in ("pass", "suppressed"):
            status = "warn"
        lines.append(f"- {ICON[status]} " + t(lang, "line", path=evidence.path, line=evidence.line,
                                               message=pick(evidence.message, lang)))
        if evidence.suppression:
            lines.append("  - " + t(lang, "suppressed_by", reason=evidence.suppression["reason"] or "—",
                                    where=where_suppressed(evidence.suppression)))
    if check.suppression and check.suppression.get("source") == "waive":
        lines.append("  - " + t(lang, "suppressed_by", reason=check.suppression["reason"],
                                where=where_suppressed(check.suppression)))
    if len(check.evidence) > MAX_EVIDENCE_PER_CHECK:
        lines.append("  - " + t(lang, "more", count=len(check.evidence) - MAX_EVIDENCE_PER_CHECK))
    note = pick(check.note, lang)
    if note:
        lines.append(f"  - {note}")
    lines += [f"  - 📝 {pick(n, lang)}" for n in check.notes]
    return lines


def _item_section(item: ItemResult, lang: str) -> list[str]:
    out = [f"### {ICON[item.status]} {item.id} {pick(item.title, lang)}", ""]
    requirement = pick(item.requirement, lang).strip()
    if requirement:
        out += [f"**{t(lang, 'requirement')}**", requirement, ""]
    out += [f"**{t(lang, 'state')}**"] + _evidence_lines(item, lang) + [""]
    advisories = item.advisories()
    if advisories:
        out.append(f"**{t(lang, 'advisory')}**")
        for check in advisories:
            title = pick(check.title, lang)
            if title:
                out.append(f"- ⚠️ {title}")
                out += ["  " + line for line in _check_lines(check, lang, advisory=True)]
            else:
                out += _check_lines(check, lang, advisory=True)
        out.append("")
    fix = pick(item.fix, lang).strip()
    if item.status != "pass" and fix:
        out += [f"**{t(lang, 'fix')}**", fix, ""]
    out += [f"**{t(lang, 'conclusion')}** {ICON[item.status]} **{t(lang, 'status_' + item.status)}**", "", "---", ""]
    return out


def render_summary(report: Report, lang: str) -> str:
    """A short Markdown summary for a CI job's step summary or a PR comment: table, progress, gaps."""
    out = [f"### {pick(report.spec_title, lang)}", "",
           f"| {t(lang, 'col_item')} | {t(lang, 'col_status')} | {t(lang, 'col_priority')} |", "|---|---|---|"]
    for item in report.items:
        warn = " ⚠️" if item.advisories() else ""
        out.append(f"| {item.id} {pick(item.title, lang)} | {ICON[item.status]} {t(lang, 'status_' + item.status)}{warn} "
                   f"| {t(lang, item.priority)} |")
    out += ["", progress_line(report.summary, lang), ""]
    gaps = [(item, check) for item in report.items for check in item.checks
            if check.level == "required" and check.status not in ("pass", "suppressed")]
    for item, check in gaps:
        where = next((f" (`{e.path}:{e.line}`)" for e in check.evidence if e.status == "fail"), "")
        out.append(f"- {ICON[check.status]} `{check.id}`: {pick(check.message, lang)}{where}")
    if report.baseline is not None:
        regressions = report.baseline["regressions"]
        out += ["", f"**baseline:** {len(regressions)} regression(s)"]
        out += [f"- `{r['id']}`: " + (f"{r['was']} → {r['now']}" if "was" in r else f"new finding at `{r['path']}:{r['line']}`")
                for r in regressions]
    return "\n".join(out) + "\n"


def render_markdown(report: Report, lang: str) -> str:
    plan = (report.plan or {}).get("path") or (report.plan or {}).get("title") or report.spec
    out = [f"# {t(lang, 'title')}", "",
           f"> {t(lang, 'compare', plan=plan)}  ",
           f"> {t(lang, 'spec_root', spec=report.spec, root=report.root)}", "", "---", ""]
    for status in ("pass", "suppressed", "partial", "fail", "error"):
        items = [i for i in report.items if i.status == status]
        if not items:
            continue
        out += [f"## {t(lang, 'section_' + status)}", ""]
        for item in items:
            out += _item_section(item, lang)

    out += [f"## {t(lang, 'summary')}", "",
            f"| {t(lang, 'col_item')} | {t(lang, 'col_status')} | {t(lang, 'col_priority')} |",
            "|--------|------|--------|"]
    for item in report.items:
        out.append(f"| {item.id} {pick(item.title, lang)} | {ICON[item.status]} {t(lang, 'status_' + item.status)} "
                   f"| {t(lang, item.priority)} |")
    out += ["", progress_line(report.summary, lang), "", "---", "", f"## {t(lang, 'next')}", ""]

    pending = sorted((i for i in report.items if i.status not in ("pass", "suppressed")),
                     key=lambda i: (PRIORITY_ORDER[i.priority], report.items.index(i)))
    if not pending:
        out += [t(lang, "next_none"), ""]
    current = None
    number = 0
    for item in pending:
        if item.priority != current:
            current = item.priority
            out += [f"### {t(lang, 'next_group', priority=t(lang, item.priority))}", ""]
            number = 0
        number += 1
        failing = [c for c in item.checks if c.level == "required" and c.status != "pass"]
        reasons = "；".join(pick(c.message, lang) for c in failing) if lang == "zh" else "; ".join(
            pick(c.message, lang) for c in failing)
        out.append(f"{number}. **{item.id} {pick(item.title, lang)}** ({ICON[item.status]}): {reasons}")
    if pending:
        out.append("")

    if report.diagnostics:
        out += ["---", "", f"## {t(lang, 'notes')}", ""]
        for diagnostic in report.diagnostics:
            key = diagnostic_key(diagnostic.kind)
            out.append("- " + t(lang, key, path=diagnostic.path, line=diagnostic.line, column=diagnostic.column,
                                message=diagnostic.message))
        out.append("")
    out += ["---", "", f"*{t(lang, 'generated', version=report.tool_version, spec=report.spec)}*", ""]
    return "\n".join(out)
