"""Suppressions: `# leveraudit: ignore[ID, ...] reason` in code, and the spec's `waive:` list for what has
no line (an option that is absent). Suppressed results stay in every report, marked as suppressed.

An inline suppression applies to evidence whose statement spans its line, or that starts on the line
after a comment standing alone. IDs are item ids (`3.3.3`) or check ids (`3.3.3/option`).
"""

from __future__ import annotations

import re

from leveraudit.checks.base import FAIL, PARTIAL, PASS

SUPPRESSED = "suppressed"
_COMMENT = re.compile(r"#\s*leveraudit:\s*ignore\[([^\]]*)\]\s*(.*)$")


def find_suppressions(text: str) -> list[dict]:
    found = []
    if "leveraudit:" not in text:
        return found
    for number, line in enumerate(text.splitlines(), start=1):
        match = _COMMENT.search(line)
        if match:
            ids = [part.strip() for part in match.group(1).split(",") if part.strip()]
            found.append({"line": number, "ids": ids, "reason": match.group(2).strip(),
                          "own_line": line.strip().startswith("#")})
    return found


def _covers(suppression: dict, evidence) -> bool:
    if evidence.line <= suppression["line"] <= max(evidence.end_line, evidence.line):
        return True
    return suppression["own_line"] and suppression["line"] == evidence.line - 1


def apply_suppressions(item, checks, inline: dict[str, list[dict]], waivers: dict[str, str]) -> None:
    """Mark suppressed evidence and checks in place (only fail / partial results can be suppressed)."""
    for check in checks:
        if check.status not in (FAIL, PARTIAL):
            continue
        reason = waivers.get(check.id) or waivers.get(item.id)
        if reason:
            check.status, check.suppression = SUPPRESSED, {"source": "waive", "reason": reason}
            continue
        failing = [e for e in check.evidence if e.status != PASS]
        for evidence in failing:
            for suppression in inline.get(evidence.path, ()):
                if (item.id in suppression["ids"] or check.id in suppression["ids"]) and _covers(suppression, evidence):
                    evidence.status = SUPPRESSED
                    evidence.suppression = {"source": "inline", "reason": suppression["reason"],
                                            "path": evidence.path, "line": suppression["line"]}
                    break
        if failing and all(e.status == SUPPRESSED for e in failing):
            check.status, check.suppression = SUPPRESSED, dict(failing[0].suppression)
