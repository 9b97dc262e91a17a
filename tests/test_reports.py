"""Golden files for every renderer on both fixture trees, and SARIF schema validation.

Regenerate after an intended change with: LEVERAUDIT_UPDATE_GOLDEN=1 ./dev test tests/test_reports.py
"""

from __future__ import annotations

import io
import json
import os
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import pytest
from rich.console import Console

from leveraudit.engine import run_audit
from leveraudit.report import TEXT_RENDERERS
from leveraudit.report.terminal import render_terminal
from leveraudit.spec import load_spec
from tests.conftest import REPO

GOLDEN = REPO / "tests" / "golden"
TREES = ["research_before", "research_after"]
OUTPUTS = [("md", "zh"), ("md", "en"), ("summary", "en"), ("json", "zh"), ("sarif", "en"), ("junit", "en"), ("github", "en"),
           ("terminal", "zh")]


@pytest.fixture(scope="module")
def reports():
    cwd = os.getcwd()
    os.chdir(REPO)  # the report shows the spec and root as given: keep them relative
    try:
        spec = load_spec("rules/v3.yaml")
        return {tree: run_audit(spec, Path(f"tests/fixtures/{tree}"), spec_path="rules/v3.yaml", jobs=1)[0]
                for tree in TREES}
    finally:
        os.chdir(cwd)


def render(report, fmt, lang) -> str:
    if fmt == "terminal":
        buffer = io.StringIO()
        render_terminal(report, lang, Console(file=buffer, width=110, color_system=None, force_terminal=False))
        return buffer.getvalue()
    return TEXT_RENDERERS[fmt](report, lang)


@pytest.mark.parametrize("tree", TREES)
@pytest.mark.parametrize("fmt,lang", OUTPUTS)
def test_golden(reports, tree, fmt, lang):
    text = render(reports[tree], fmt, lang)
    path = GOLDEN / f"{tree}.{lang}.{fmt}"
    if os.environ.get("LEVERAUDIT_UPDATE_GOLDEN"):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    assert path.exists(), f"missing golden file {path}; run with LEVERAUDIT_UPDATE_GOLDEN=1"
    assert text == path.read_text(encoding="utf-8")


def test_output_is_deterministic(reports, monkeypatch):
    import leveraudit.engine as engine

    monkeypatch.setattr(engine, "PARALLEL_MIN_FILES", 1)  # the small tree through the worker pool
    monkeypatch.setattr(engine, "PARALLEL_MIN_LINES", 0)
    spec = load_spec(REPO / "rules" / "v3.yaml")
    again, stats = run_audit(spec, REPO / "tests" / "fixtures" / "research_before", jobs=2)
    assert stats.workers == 2, "the parallel path must really run"
    first = json.loads(TEXT_RENDERERS["json"](reports["research_before"], "en"))
    second = json.loads(TEXT_RENDERERS["json"](again, "en"))
    first.pop("root"), second.pop("root"), first.pop("spec"), second.pop("spec")
    assert first == second


def test_markdown_totals_are_computed(reports):
    zh = render(reports["research_before"], "md", "zh")
    assert "**总体进度：** 5/8 项已实现（62.5%）" in zh
    assert "| 3.3.1 添加 `vqa_eval_mode` 字段 | ⚠️ 部分实现 | 高 |" in zh
    assert zh.index("## ✅ 已完全实现的改进") < zh.index("## ⚠️ 部分实现的改进") < zh.index("## ❌ 未实现的改进")
    en = render(reports["research_after"], "md", "en")
    assert "**Overall progress:** 8/8 items implemented (100.0%)" in en


def test_json_follows_the_contract(reports):
    data = json.loads(render(reports["research_before"], "json", "en"))
    assert data["schema"] == "leveraudit.report/2"
    assert data["summary"] == {"items": 8, "pass": 5, "suppressed": 0, "partial": 2, "fail": 1, "error": 0,
                               "progress": 0.625}
    check = data["items"][0]["checks"][0]
    assert set(check) >= {"id", "kind", "level", "status", "message", "evidence"}
    assert set(check["evidence"][0]) >= {"path", "line", "end_line", "fingerprint"}


def test_json_is_the_contract_indented_with_one_line_per_record(reports):
    from leveraudit.report.json_report import render_json

    report = reports["research_before"].model_copy(deep=True)   # the fixture is shared: changed below
    text = render_json(report, "en")
    contract = report.to_contract("en")
    assert json.loads(text) == contract
    records = [e for item in contract["items"] for check in item["checks"] for e in check["evidence"]]
    assert len(records) > 10
    lines = {line.removesuffix(",") for line in text.splitlines()}
    for record in records:   # each on a line of its own, as json.dumps writes it compactly
        assert "            " + json.dumps(record, ensure_ascii=False, sort_keys=True) in lines
    for item in contract["items"]:
        for check in item["checks"]:
            check["evidence"] = []
    # everything else is exactly what json.dumps(indent=2, sort_keys=True) writes
    plain = json.dumps(contract, ensure_ascii=False, indent=2, sort_keys=True) + "\n"
    for item in report.items:
        for check in item.checks:
            check.evidence = []
    assert render_json(report, "en") == plain


@pytest.mark.parametrize("tree", TREES)
def test_sarif_is_valid_against_the_2_1_0_schema(reports, tree):
    schema = json.loads((REPO / "tests" / "data" / "sarif-schema-2.1.0.json").read_text(encoding="utf-8"))
    document = json.loads(render(reports[tree], "sarif", "en"))
    jsonschema.validate(document, schema)
    results = document["runs"][0]["results"]
    if tree == "research_before":
        assert {r["ruleId"] for r in results if r["level"] == "error"} >= {
            "3.3.1/eval-mode-field", "3.3.2/param", "3.3.3/option", "3.3.3/passed-to-datasets"}
        assert all("partialFingerprints" in r for r in results)
    # code scanning rejects results without a location: absent requirements point at the spec line
    rules = [r["id"] for r in document["runs"][0]["tool"]["driver"]["rules"]]
    for result in results:
        assert result["locations"][0]["physicalLocation"]["region"]["startLine"] >= 1, result
        assert rules[result["ruleIndex"]] == result["ruleId"]
    absent = [r for r in results if r["ruleId"] == "3.3.3/option"]
    if tree == "research_before":
        [location] = absent[0]["locations"]
        spec_text = (REPO / "rules" / "v3.yaml").read_text(encoding="utf-8").splitlines()
        line = location["physicalLocation"]["region"]["startLine"]
        assert "kind: cli_option" in spec_text[line - 1] and "3.3.3/option" in spec_text[line]


def test_junit_counts_required_failures_only(reports):
    root = ET.fromstring(render(reports["research_before"], "junit", "en"))
    assert root.get("failures") == "5" and root.get("errors") == "0"
    assert ET.fromstring(render(reports["research_after"], "junit", "en")).get("failures") == "0"


def test_a_one_line_record_is_exactly_what_json_dumps_writes():
    from leveraudit.report.json_report import _record

    tricky = [{"z": 1, "a": [2.5, float("nan"), float("inf"), -0.0, 10**30], "中文": "引号\"\\\n\t\u2028",
               "nested": {"b": None, "a": True, "c": {"y": [], "x": {}}}, "": "empty key"},
              {"path": "a/b.py", "line": 3, "message": {"zh": "✅", "en": "ok"}}, {}]
    for value in tricky:
        assert _record(value) == json.dumps(value, ensure_ascii=False, sort_keys=True)
    with pytest.raises(TypeError, match="not JSON serializable"):
        _record({"bad": object()})
