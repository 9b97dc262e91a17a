from __future__ import annotations

import textwrap
from pathlib import Path

import pytest
import yaml

from leveraudit.engine import run_audit
from leveraudit.spec import load_spec, parse_spec

REPO = Path(__file__).resolve().parents[1]
FIXTURES = REPO / "tests" / "fixtures"
V3 = REPO / "rules" / "v3.yaml"


@pytest.fixture(scope="session")
def v3_spec():
    return load_spec(V3)


def write_tree(root: Path, files: dict[str, str]) -> Path:
    for rel, text in files.items():
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
    return root


def one_check_spec(check: dict, item_id: str = "T") -> str:
    return yaml.safe_dump({"version": 1, "title": "t", "lang": "en",
                           "items": [{"id": item_id, "title": "t", "priority": "high", "checks": [check]}]},
                          allow_unicode=True, sort_keys=False)


def run_check(tmp_path: Path, check: dict, files: dict[str, str]):
    """Audit a tree of snippets with a one-check spec; return the check result."""
    root = write_tree(tmp_path / "tree", files)
    report, _ = run_audit(parse_spec(one_check_spec(check)), root, jobs=1)
    return report.items[0].checks[0]


def statuses(report) -> dict[str, str]:
    return {item.id: item.status for item in report.items}
