"""rules/v3.yaml on the research-style fixture trees: pinned verdicts and regressions that flip
exactly their items."""

from __future__ import annotations

import shutil

import pytest

from leveraudit.engine import run_audit
from tests.conftest import FIXTURES, statuses

# 3.3.2 partial: the empty-query skip exists already, the parameter and filter do not (see expect.yaml)
BEFORE = {"3.1": "pass", "3.2": "pass", "3.3.1": "partial", "3.3.2": "partial", "3.3.3": "fail",
          "3.4": "pass", "3.5.1": "pass", "3.5.2": "pass"}
AFTER = {item: "pass" for item in BEFORE}


def audit(spec, root):
    report, _ = run_audit(spec, root, jobs=1)
    return report


def test_before_tree_matches_the_seed_report_state(v3_spec):
    report = audit(v3_spec, FIXTURES / "research_before")
    assert statuses(report) == BEFORE
    assert (report.summary.pass_, report.summary.items, report.summary.progress) == (5, 8, 0.625)


def test_after_tree_passes_with_advisory_notes_on_the_opt_out_switch(v3_spec):
    report = audit(v3_spec, FIXTURES / "research_after")
    assert statuses(report) == AFTER
    advisories = {item.id: [c.id for c in item.advisories()] for item in report.items}
    assert advisories["3.3.2"] == ["3.3.2/opt-in-default"]
    assert advisories["3.3.3"] == ["3.3.3/opt-in-flag"]
    assert report.gate_fails("fail") is False


def _variant(tmp_path, replacements):
    root = tmp_path / "tree"
    shutil.copytree(FIXTURES / "research_after", root)
    for rel, old, new, count in replacements:
        path = root / rel
        text = path.read_text(encoding="utf-8")
        assert text.count(old) >= count, (rel, old)
        path.write_text(text.replace(old, new, count), encoding="utf-8")
    return root


TRAIN = "lever_lm/workflows/grpo_post_train.py"
GEN = "lever_lm/models/v3/generate_rl_data.py"

GUARD = ('        if self.grpo_epochs <= 0:\n'
         '            print("⚠️ GRPO epochs == 0，仅进行 RCE 预热，不执行 GRPO。")\n'
         '            return\n')
LOOP_END = '            self.save_checkpoint(epoch, "grpo", metrics)\n'

REGRESSIONS = [
    ("grpo_epochs default back to 3", [(TRAIN, 'parser.add_argument("--grpo_epochs", type=int, default=0,',
                                        'parser.add_argument("--grpo_epochs", type=int, default=3,', 1)],
     {"3.1": "partial"}),
    ("keyword dropped from the validation dataset", [(TRAIN, "        skip_fallback_reward=args.skip_fallback_reward,\n    )\n    train_loader",
                                                     "    )\n    train_loader", 1)],
     {"3.3.3": "partial"}),
    ("guard moved after the GRPO loop", [(TRAIN, GUARD, "", 1), (TRAIN, LOOP_END, LOOP_END + GUARD, 1)],
     {"3.1": "partial"}),
    ("load result discarded in one of three loads", [(GEN, "    missing, unexpected = model.load_state_dict(state_dict, strict=False)",
                                                      "    model.load_state_dict(state_dict, strict=False)\n    missing, unexpected = [], []", 1)],
     {"3.2": "partial"}),
    ("eval mode field removed", [(GEN, '            c["vqa_eval_mode"] = "file" if used_file_metric else "fallback"\n', "", 1)],
     {"3.3.1": "partial"}),
    ("filter dropped from the dataset", [("lever_lm/models/v3/dataset_v3.py",
                                          'if self.skip_fallback_reward and c.get("vqa_eval_mode") == "fallback":',
                                          'if c.get("vqa_eval_mode") == "error":', 1)],
     {"3.3.2": "partial"}),
    ("rce raw reward branch removed", [(TRAIN, 'reward_for_rce = batch["beam_rewards_raw"].to(self.device)',
                                        'reward_for_rce = batch["beam_rewards"].to(self.device)', 1)],
     {"3.4": "partial"}),
    ("grpo_lr above rce_lr", [(TRAIN, 'default=1e-5, help="GRPO 学习率', 'default=2e-4, help="GRPO 学习率', 1)],
     {"3.5.1": "partial"}),
    ("freeze flag no longer reaches the trainer", [(TRAIN, "    trainer.freeze_backbone_in_grpo = args.freeze_backbone_in_grpo\n", "", 1)],
     {"3.5.2": "partial"}),
]


@pytest.mark.parametrize("name,replacements,flipped", REGRESSIONS, ids=[r[0] for r in REGRESSIONS])
def test_regression_flips_exactly_its_item(tmp_path, v3_spec, name, replacements, flipped):
    report = audit(v3_spec, _variant(tmp_path, replacements))
    assert statuses(report) == {**AFTER, **flipped}


def test_grpo_epochs_back_to_3_still_passes_3_5_1(tmp_path, v3_spec):
    report = audit(v3_spec, _variant(tmp_path, REGRESSIONS[0][1]))
    check = next(c for c in report.items[0].checks if c.id == "3.1/grpo-epochs-default")
    assert check.status == "fail"
    assert statuses(report)["3.5.1"] == "pass"


def test_out_of_scope_loads_are_ignored(v3_spec):
    report = audit(v3_spec, FIXTURES / "research_after")
    loads = next(c for c in report.items[1].checks if c.id == "3.2/loads-checked")
    assert sorted({e.path for e in loads.evidence}) == [GEN, TRAIN]
    assert len(loads.evidence) == 3
