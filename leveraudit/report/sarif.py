"""SARIF 2.1.0: one rule per check, one result per non-passing piece of evidence."""

from __future__ import annotations

import json
from pathlib import Path

from leveraudit.report.i18n import pick
from leveraudit.report.model import Report

SARIF_SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"


def _level(check) -> str:
    if check.level == "advisory" or check.status == "suppressed":
        return "note"
    return "error" if check.status in ("fail", "error") else "warning"


def _spec_location(spec: str, line: int) -> dict:
    location = {"uri": Path(spec).as_posix()}
    if not Path(spec).is_absolute():
        location["uriBaseId"] = "SRCROOT"
    return {"physicalLocation": {"artifactLocation": location, "region": {"startLine": max(line, 1)}}}


_SYNTAX_RULE = {"id": "leveraudit/syntax-error", "name": "syntax-error",
                "shortDescription": {"text": "a file that a check needs does not parse"},
                "defaultConfiguration": {"level": "error"}}


def render_sarif(report: Report, lang: str) -> str:
    rules, results = [], []
    index: dict[str, int] = {}
    for item in report.items:
        for check in item.checks:
            index[check.id] = len(rules)
            description = pick(check.title, lang) or f"{item.id} {pick(item.title, lang)} ({check.kind})"
            help_text = pick(item.fix, lang) or pick(item.requirement, lang) or description
            rules.append({
                "id": check.id,
                "name": check.kind,
                "shortDescription": {"text": description},
                "fullDescription": {"text": pick(item.requirement, lang) or description},
                "help": {"text": help_text, "markdown": help_text},
                "defaultConfiguration": {"level": "note" if check.level == "advisory" else "error"},
                "properties": {"item": item.id, "priority": item.priority, "level": check.level,
                               "tags": [item.priority, check.kind]},
            })
            if check.status == "pass":
                continue
            failing = [e for e in check.evidence if e.status != "pass"]
            base = {"ruleId": check.id, "ruleIndex": index[check.id], "level": _level(check),
                    "properties": {"item": item.id, "status": check.status}}
            if check.suppression and check.suppression.get("source") == "waive":
                base["suppressions"] = [{"kind": "external", "justification": check.suppression["reason"]}]
            if not failing:  # an absent requirement: located at the spec line that asks for it
                results.append({**base, "message": {"text": f"{item.id}: {pick(check.message, lang)}"},
                                "locations": [_spec_location(report.spec, check.spec_line)],
                                "partialFingerprints": {"leveraudit/v1": check.id}})
            for evidence in failing:
                results.append({
                    **base,
                    "message": {"text": f"{item.id}: {pick(evidence.message, lang)}"},
                    "locations": [{"physicalLocation": {
                        "artifactLocation": {"uri": evidence.path, "uriBaseId": "SRCROOT"},
                        "region": {"startLine": max(evidence.line, 1), "endLine": max(evidence.end_line, evidence.line, 1)},
                    }}],
                    "partialFingerprints": {"leveraudit/v1": evidence.fingerprint},
                    **({"suppressions": [{"kind": "inSource", "justification": evidence.suppression["reason"]}]}
                       if evidence.suppression else {}),
                })
    for diagnostic in report.diagnostics:
        if diagnostic.kind != "syntax-error":
            continue
        if _SYNTAX_RULE not in rules:
            rules.append(_SYNTAX_RULE)
        results.append({"ruleId": "leveraudit/syntax-error", "ruleIndex": rules.index(_SYNTAX_RULE), "level": "error",
                        "partialFingerprints": {"leveraudit/v1": f"syntax-error:{diagnostic.path}"},
                        "message": {"text": f"does not parse: {diagnostic.message}"},
                        "locations": [{"physicalLocation": {
                            "artifactLocation": {"uri": diagnostic.path, "uriBaseId": "SRCROOT"},
                            "region": {"startLine": max(diagnostic.line, 1), "startColumn": max(diagnostic.column, 1)}}}]})
    document = {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [{
            "tool": {"driver": {"name": "leveraudit", "version": report.tool_version,
                                "informationUri": "https://example.invalid/leveraudit", "rules": rules}},
            "results": results,
            "columnKind": "unicodeCodePoints",
            "properties": {"spec": report.spec, "summary": report.summary.model_dump(by_alias=True)},
        }],
    }
    return json.dumps(document, ensure_ascii=False, indent=2, sort_keys=True) + "\n"
