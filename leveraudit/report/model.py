"""The report model every renderer reads; its JSON form is the versioned contract other tools use."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from leveraudit import __version__

SCHEMA = "leveraudit.report/2"
STATUSES = ("pass", "suppressed", "partial", "fail", "error")
PRIORITY_ORDER = {"high": 0, "medium": 1, "low": 2}


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True)


class Diagnostic(_Model):
    path: str
    line: int
    column: int
    kind: str  # syntax-error | skipped | over-budget | suppression-without-reason | suppression-unknown-id
    message: str


class CheckResult(_Model):
    id: str
    kind: str
    level: str
    status: str
    message: dict[str, str]
    title: dict[str, Any] | None = None
    note: dict[str, Any] | None = None
    suppression: dict[str, Any] | None = None
    evidence: list[Any] = Field(default_factory=list)
    notes: list[dict[str, str]] = Field(default_factory=list)  # e.g. matches outside the item's programs
    spec_line: int = 1  # where the spec defines the check: the location of a requirement with no code


class ItemResult(_Model):
    id: str
    title: dict[str, Any]
    priority: str
    status: str
    requirement: dict[str, Any] | None = None
    fix: dict[str, Any] | None = None
    checks: list[CheckResult]

    def advisories(self) -> list[CheckResult]:
        return [c for c in self.checks if c.level == "advisory" and c.status != "pass"]

    def text(self, field: str, lang: str) -> str:
        value = getattr(self, field)
        if not value:
            return ""
        return value.get(lang) or value.get("en") or value.get("zh") or ""


class Summary(_Model):
    items: int
    pass_: int = Field(alias="pass")
    suppressed: int = 0
    partial: int
    fail: int
    error: int
    progress: float
    model_config = ConfigDict(populate_by_name=True, extra="forbid")

    @classmethod
    def of(cls, items: list[ItemResult]) -> "Summary":
        counts = {status: sum(item.status == status for item in items) for status in STATUSES}
        total = len(items)
        return cls(items=total, progress=round(counts["pass"] / total, 4) if total else 0.0,
                   **{"pass": counts["pass"], "suppressed": counts["suppressed"], "partial": counts["partial"],
                      "fail": counts["fail"], "error": counts["error"]})


class Report(_Model):
    spec: str
    spec_title: dict[str, Any]
    lang: str
    plan: dict[str, Any] | None
    root: str
    summary: Summary
    items: list[ItemResult]
    diagnostics: list[Diagnostic] = Field(default_factory=list)
    files_scanned: int = 0
    files_parsed: int = 0
    tool_version: str = __version__
    baseline: dict[str, Any] | None = None  # {"path": ..., "regressions": [...]}
    changed_since: str | None = None

    def gate_fails(self, fail_on: str) -> bool:
        if fail_on == "never":
            return False
        if self.baseline is not None:
            return bool(self.baseline["regressions"])
        bad = {"fail", "error"} if fail_on == "fail" else {"fail", "error", "partial"}
        return any(item.status in bad for item in self.items)

    def to_contract(self, lang: str) -> dict:
        """The JSON contract (`leveraudit.report/1`), messages in `lang`."""
        def msg(value: dict | None) -> str | None:
            if not value:
                return None
            return value.get(lang) or value.get("en")

        return {
            "schema": SCHEMA,
            "tool": {"name": "leveraudit", "version": self.tool_version},
            "spec": self.spec,
            "title": msg(self.spec_title),
            "root": self.root,
            "lang": lang,
            "summary": self.summary.model_dump(by_alias=True),
            "items": [{
                "id": item.id, "title": msg(item.title), "priority": item.priority, "status": item.status,
                "checks": [{
                    "id": check.id, "kind": check.kind, "level": check.level, "status": check.status,
                    "message": msg(check.message), "suppression": check.suppression,
                    "evidence": [{"path": e.path, "line": e.line, "end_line": e.end_line, "status": e.status,
                                  "message": msg(e.message), "code": e.code, "fingerprint": e.fingerprint,
                                  "suppression": e.suppression} for e in check.evidence],
                    **({"notes": [msg(n) for n in check.notes]} if check.notes else {}),
                } for check in item.checks],
            } for item in self.items],
            "diagnostics": [d.model_dump() for d in self.diagnostics],
            **({"baseline": self.baseline} if self.baseline is not None else {}),
            **({"changed_since": self.changed_since} if self.changed_since else {}),
        }
