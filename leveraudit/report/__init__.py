"""One report model, one renderer per output format."""

from __future__ import annotations

from leveraudit.report.github import render_github
from leveraudit.report.json_report import render_json
from leveraudit.report.junit import render_junit
from leveraudit.report.markdown import render_markdown, render_summary
from leveraudit.report.model import Report
from leveraudit.report.sarif import render_sarif

TEXT_RENDERERS = {"md": render_markdown, "summary": render_summary, "json": render_json, "sarif": render_sarif,
                  "junit": render_junit, "github": render_github}
FORMATS = ["terminal", *TEXT_RENDERERS]

__all__ = ["FORMATS", "TEXT_RENDERERS", "Report"]
