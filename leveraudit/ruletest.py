"""`leveraudit test`: run a spec over fixture trees whose expected verdicts are written beside them.

Each sub-folder of FIXTURES_DIR is one audited root. Expectations come from `expect.yaml` in it::

    items: {"3.1": pass, "3.3.1": partial}
    checks: {"3.3.3/passed-to-datasets": fail}

and/or from inline comments in its files: `# expect: fail 3.3.2` (an item or check id). Every
expectation must hold; a fixture without any is an error, so a typo cannot pass vacuously.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from leveraudit.engine import run_audit
from leveraudit.spec.models import Spec

_INLINE = re.compile(r"#\s*expect:\s*(pass|partial|fail|error|suppressed)\s+([A-Za-z0-9._/#-]+)")


@dataclass
class FixtureResult:
    name: str
    expected: int = 0
    mismatches: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and not self.mismatches and self.expected > 0


def expectations(root: Path) -> dict[str, str]:
    expected: dict[str, str] = {}
    path = root / "expect.yaml"
    if path.is_file():
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        if not isinstance(document, dict) or set(document) - {"items", "checks"}:
            raise ValueError(f"{path}: expected a mapping with `items` and/or `checks`")
        for section in ("items", "checks"):
            for key, status in (document.get(section) or {}).items():
                expected[str(key)] = str(status)
    for source in sorted(root.rglob("*")):
        if source.is_file() and source.suffix in (".py", ".sh", ".md", ".yaml", ".yml") and source.name != "expect.yaml":
            for match in _INLINE.finditer(source.read_text(encoding="utf-8", errors="replace")):
                expected[match.group(2)] = match.group(1)
    return expected


def run_fixture(spec: Spec, root: Path) -> FixtureResult:
    result = FixtureResult(root.name)
    try:
        expected = expectations(root)
    except (ValueError, yaml.YAMLError) as exc:
        result.error = str(exc)
        return result
    if not expected:
        result.error = "no expectations (expect.yaml or `# expect:` comments)"
        return result
    report, _ = run_audit(spec, root, jobs=1)
    actual = {item.id: item.status for item in report.items}
    actual.update({check.id: check.status for item in report.items for check in item.checks})
    result.expected = len(expected)
    for key, status in sorted(expected.items()):
        if key not in actual:
            result.mismatches.append(f"{key}: not an item or check id of the spec")
        elif actual[key] != status:
            result.mismatches.append(f"{key}: expected {status}, got {actual[key]}")
    return result


def run_fixtures(spec: Spec, fixtures_dir: Path) -> list[FixtureResult]:
    roots = sorted(p for p in fixtures_dir.iterdir() if p.is_dir() and not p.name.startswith("."))
    return [run_fixture(spec, root) for root in roots]
