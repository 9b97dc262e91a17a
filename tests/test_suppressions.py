"""Suppressions: inline comments with reasons, the spec's waive list, never silently dropped."""

from __future__ import annotations

import shutil

import yaml

from leveraudit.engine import run_audit
from leveraudit.report import TEXT_RENDERERS
from leveraudit.spec import SpecError, parse_spec
from tests.conftest import FIXTURES, V3, statuses

TRAIN = "lever_lm/workflows/grpo_post_train.py"


def _tree(tmp_path, comment: str):
    root = tmp_path / "tree"
    shutil.copytree(FIXTURES / "research_before", root)
    path = root / TRAIN
    text = path.read_text(encoding="utf-8")
    for name in ("train_dataset", "val_dataset"):
        text = text.replace(f"    {name} = RLBeamDatasetWithEmbedding(\n",
                            f"    {comment}\n    {name} = RLBeamDatasetWithEmbedding(\n")
    path.write_text(text, encoding="utf-8")
    return root


def _spec(waive: list[dict]):
    document = yaml.safe_load(V3.read_text(encoding="utf-8"))
    document["waive"] = waive
    return parse_spec(yaml.safe_dump(document, allow_unicode=True))


def test_inline_and_waived_gaps_are_suppressed_not_dropped(tmp_path):
    root = _tree(tmp_path, "# leveraudit: ignore[3.3.3/passed-to-datasets] the legacy datasets are built elsewhere")
    spec = _spec([{"id": "3.3.3/option", "reason": "the flag lives in the launcher"}])
    report, _ = run_audit(spec, root, jobs=1)
    item = next(i for i in report.items if i.id == "3.3.3")
    assert item.status == "suppressed"
    checks = {c.id: c for c in item.checks}
    assert checks["3.3.3/option"].suppression == {"source": "waive", "reason": "the flag lives in the launcher"}
    calls = checks["3.3.3/passed-to-datasets"]
    assert calls.status == "suppressed" and {e.status for e in calls.evidence} == {"suppressed"}
    assert calls.evidence[0].suppression["reason"] == "the legacy datasets are built elsewhere"
    assert report.summary.suppressed == 1 and report.summary.pass_ == 5
    assert statuses(report)["3.3.2"] == "partial", "other items are untouched"
    markdown = TEXT_RENDERERS["md"](report, "en")
    assert "## 🔕 Suppressed" in markdown and "the legacy datasets are built elsewhere" in markdown
    assert "🔕" in TEXT_RENDERERS["junit"](report, "en") or "skipped" in TEXT_RENDERERS["junit"](report, "en")


def test_suppression_must_name_the_right_id_and_line(tmp_path):
    root = _tree(tmp_path, "# leveraudit: ignore[3.1] wrong item")
    report, _ = run_audit(_spec([]), root, jobs=1)
    assert statuses(report)["3.3.3"] == "fail"


def test_a_suppression_without_reason_is_reported(tmp_path):
    root = _tree(tmp_path, "# leveraudit: ignore[3.3.3/passed-to-datasets]")
    report, _ = run_audit(_spec([]), root, jobs=1)
    reasonless = [d for d in report.diagnostics if d.kind == "suppression-without-reason"]
    assert [(d.path, d.line) for d in reasonless] == [(TRAIN, 238), (TRAIN, 249)]


def test_waivers_need_a_reason_and_a_known_id():
    try:
        _spec([{"id": "9.9", "reason": "x"}])
    except SpecError as exc:
        assert "unknown id '9.9'" in str(exc)
    else:
        raise AssertionError("unknown waiver id accepted")
    try:
        _spec([{"id": "3.1", "reason": ""}])
    except SpecError as exc:
        assert "waive[0].reason" in str(exc)
    else:
        raise AssertionError("empty reason accepted")
