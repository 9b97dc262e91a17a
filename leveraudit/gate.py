"""CI-gate modes: compare with a baseline report (fail only on what got worse), limit evidence to the
files a change touched."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from leveraudit.report.model import Report

_RANK = {"pass": 0, "suppressed": 0, "partial": 1, "fail": 2, "error": 2}


class GateError(Exception):
    pass


def load_baseline(path: Path) -> dict:
    from leveraudit.userfiles import UserFileError, read_user_file

    try:
        document = json.loads(read_user_file(path, "baseline"))
    except UserFileError as exc:
        raise GateError(str(exc)) from None
    except (ValueError, RecursionError) as exc:  # RecursionError: JSON nested deeper than Python recurses
        first = str(exc).splitlines()[0] if str(exc) else "nested too deeply"
        raise GateError(f"baseline {path} is not a JSON report: {first}") from None
    if not isinstance(document, dict):
        raise GateError(f"baseline {path} is not a leveraudit JSON report (a {type(document).__name__}, not an object)")
    if not str(document.get("schema", "")).startswith("leveraudit.report/"):
        raise GateError(f"baseline {path} is not a leveraudit JSON report (schema {document.get('schema')!r})")
    items = document.get("items", [])
    if not isinstance(items, list) or not all(isinstance(i, dict) and isinstance(i.get("id"), str) for i in items):
        raise GateError(f"baseline {path}: `items` must be a list of item objects with an `id`")
    for item in items:
        checks = item.get("checks", [])
        if not isinstance(checks, list) or not all(isinstance(c, dict) and isinstance(c.get("id"), str) for c in checks):
            raise GateError(f"baseline {path}: item {item['id']}: `checks` must be a list of check objects with an `id`")
        for entry in [item, *checks]:
            if not isinstance(entry.get("status", ""), str):
                raise GateError(f"baseline {path}: {entry['id']}: `status` must be a string")
            evidence = entry.get("evidence", [])
            if not isinstance(evidence, list) or not all(
                    isinstance(e, dict) and isinstance(e.get("status", ""), str)
                    and isinstance(e.get("fingerprint", ""), (str, type(None))) for e in evidence):
                raise GateError(f"baseline {path}: {entry['id']}: `evidence` must be a list of evidence objects")
    return document


def regressions(report: Report, baseline: dict) -> list[dict]:
    """Items and required checks whose status got worse, and failing findings the baseline did not have
    (matched by fingerprint: check id, path and code, never the line)."""
    base_items = {item["id"]: item for item in baseline.get("items", [])}
    base_checks = {check["id"]: check for item in base_items.values() for check in item.get("checks", [])}
    base_findings = {evidence.get("fingerprint") for check in base_checks.values()
                     for evidence in check.get("evidence", []) if evidence.get("status") == "fail"}
    found = []
    for item in report.items:
        before = base_items.get(item.id, {}).get("status", "pass")
        if _RANK[item.status] > _RANK.get(before, 0):
            found.append({"kind": "item", "id": item.id, "was": before, "now": item.status})
        for check in item.checks:
            if check.level != "required":
                continue
            was = base_checks.get(check.id, {}).get("status", "pass")
            if _RANK[check.status] > _RANK.get(was, 0):
                found.append({"kind": "check", "id": check.id, "was": was, "now": check.status})
            for evidence in check.evidence:
                if evidence.status == "fail" and evidence.fingerprint not in base_findings:
                    found.append({"kind": "finding", "id": check.id, "path": evidence.path, "line": evidence.line,
                                  "fingerprint": evidence.fingerprint})
    return found


def changed_files(root: Path, revision: str) -> set[str]:
    """Paths (relative to root) changed since `revision`, plus untracked files, according to git."""
    def git(*args: str) -> list[str]:
        try:
            result = subprocess.run(["git", "-C", str(root), *args], capture_output=True, text=True, timeout=60)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise GateError(f"--changed-since needs git: {exc}") from None
        if result.returncode != 0:
            raise GateError(f"--changed-since {revision}: {result.stderr.strip().splitlines()[-1] if result.stderr.strip() else 'git failed'}")
        return [line for line in result.stdout.splitlines() if line]

    if revision.startswith("-"):
        raise GateError(f"--changed-since {revision!r}: not a revision")
    changed = git("diff", "--name-only", "--relative", revision, "--")
    changed += git("ls-files", "--others", "--exclude-standard")
    return set(changed)


def limit_to_changed(report: Report, changed: set[str]) -> None:
    """Keep only evidence in changed files; statuses stay those of the whole items."""
    for item in report.items:
        for check in item.checks:
            check.evidence = [e for e in check.evidence if e.path in changed]
