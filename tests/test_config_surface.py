"""Config-surface lint on a research-style tree with drifted scripts, docs and YAML: every planted
drift is reported once, at the right path:line, with the right hint, and nothing else."""

from __future__ import annotations

import json
import shutil

from typer.testing import CliRunner

from leveraudit.cli import app
from leveraudit.engine import run_audit
from tests.conftest import FIXTURES, REPO

runner = CliRunner()
SURFACE_CHECKS = ("3.1/launchers-keep-defaults", "3.1/configs-match-defaults", "3.3.3/documented-invocations",
                  "3.3.3/documented-flags-exist")


def drifted_tree(tmp_path):
    root = tmp_path / "tree"
    shutil.copytree(FIXTURES / "research_after", root)
    shutil.copytree(REPO / "tests" / "data" / "drift_overlay", root, dirs_exist_ok=True)
    return root


def findings(report):
    return sorted((check.id, e.path, e.line, e.message["en"]) for item in report.items for check in item.checks
                  if check.id in SURFACE_CHECKS for e in check.evidence)


def test_every_planted_drift_is_reported_once_and_nothing_else(tmp_path, v3_spec):
    report, _ = run_audit(v3_spec, drifted_tree(tmp_path), jobs=1)
    assert findings(report) == [
        ("3.1/configs-match-defaults", "configs/v3_train.yaml", 2,
         "`rce_epochs: 1` but `--rce_epochs` defaults to `5` (lever_lm/workflows/grpo_post_train.py:212); "
         "the YAML is stale (the plan says == 5); no code mentions this file, so its value never applies"),
        ("3.1/launchers-keep-defaults", "scripts/train_v3_grpo.sh", 10,
         "`--grpo_epochs 3` overrides the plan's default for `grpo_epochs` (== 0): expected 0"),
        ("3.1/launchers-keep-defaults", "scripts/train_v3_grpo.sh", 11,
         "`python -m lever_lm.workflows.grpo_post_train` has no option `--skip_fallback_reward`; "
         "did you mean `--no_skip_fallback_reward`?"),
        ("3.3.3/documented-flags-exist", "docs/train.md", 9,
         "`--skip_fallback_reward` is documented but no program defines it; the code has `--no_skip_fallback_reward`"),
        ("3.3.3/documented-invocations", "docs/train.md", 14,
         "`python -m lever_lm.workflows.grpo_post_train` has no option `--freeze-backbone-in-grpo`; "
         "did you mean `--freeze_backbone_in_grpo`?"),
    ]
    assert {i.id: i.status for i in report.items} == {i: "pass" for i in
                                                      ("3.1", "3.2", "3.3.1", "3.3.2", "3.3.3", "3.4", "3.5.1", "3.5.2")}


def test_clean_tree_has_no_surface_findings(v3_spec):
    report, _ = run_audit(v3_spec, FIXTURES / "research_after", jobs=1)
    assert findings(report) == []


def test_surface_command_lists_every_option(tmp_path):
    root = drifted_tree(tmp_path)
    result = runner.invoke(app, ["surface", str(root), "--format", "json"])
    assert result.exit_code == 0, result.output
    options = json.loads(result.stdout)
    trainer = {o["dest"]: o for o in options if o["path"] == "lever_lm/workflows/grpo_post_train.py"}
    assert trainer["skip_fallback_reward"]["default"] is True and trainer["skip_fallback_reward"]["flags"] == ["--no_skip_fallback_reward"]
    assert trainer["rce_epochs"]["default"] == 5 and trainer["rce_epochs"]["line"] == 212
    table = runner.invoke(app, ["surface", str(root)])
    assert table.exit_code == 0 and "--no_skip_fallback_reward" in table.stdout
