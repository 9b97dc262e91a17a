"""JUnit XML: a test suite per item, a test case per check; advisory gaps are not failures."""

from __future__ import annotations

from xml.etree import ElementTree as ET

from leveraudit.report.i18n import pick
from leveraudit.report.model import Report


def render_junit(report: Report, lang: str) -> str:
    root = ET.Element("testsuites", name="leveraudit", tests="0", failures="0", errors="0")
    totals = {"tests": 0, "failures": 0, "errors": 0}
    for item in report.items:
        suite = ET.SubElement(root, "testsuite", name=f"{item.id} {pick(item.title, lang)}")
        counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
        for check in item.checks:
            counts["tests"] += 1
            case = ET.SubElement(suite, "testcase", classname=item.id, name=check.id)
            lines = [f"{e.path}:{e.line}: [{e.status}] {pick(e.message, lang)}" for e in check.evidence]
            body = "\n".join([pick(check.message, lang)] + lines)
            if check.status == "pass":
                if lines:
                    ET.SubElement(case, "system-out").text = body
            elif check.status == "suppressed":
                counts["skipped"] += 1
                ET.SubElement(case, "skipped", message=f"suppressed: {(check.suppression or {}).get('reason', '')}")
            elif check.level == "advisory":
                ET.SubElement(case, "system-out").text = "advisory: " + body
            elif check.status == "error":
                counts["errors"] += 1
                ET.SubElement(case, "error", message=pick(check.message, lang), type="error").text = body
            else:
                counts["failures"] += 1
                ET.SubElement(case, "failure", message=pick(check.message, lang), type=check.status).text = body
        for key, value in counts.items():
            suite.set(key, str(value))
        for key in totals:
            totals[key] += counts[key]
    for key, value in totals.items():
        root.set(key, str(value))
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
