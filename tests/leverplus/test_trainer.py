"""GRPOTrainer: the RCE-only guard, the freeze, the reward switch, learning, and bit-exact resume."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
import torch

from leverplus.dataset import RLCollate
from leverplus.model import PointerSelector
from leverplus.train import GRPOTrainer, Reporter, TrainerConfig, build_datasets, build_model, seed_everything
from tests.conftest import REPO


def make_trainer(tmp_path, data, world, **overrides):
    settings = {"output_dir": str(tmp_path / "run"), "batch_size": 8, "rce_epochs": 1, "hidden_dim": 16, **overrides}
    config = TrainerConfig(**settings)
    seed_everything(config.seed)
    train_set, val_set = build_datasets(config, data, world.embeddings)
    model = build_model(config, world.embeddings, data.shot_num)
    return GRPOTrainer(config, model, train_set, val_set, Reporter(tmp_path / "metrics.jsonl"))


def test_rce_only_by_default_returns_before_grpo(tmp_path, small_data, small_world):
    trainer = make_trainer(tmp_path, small_data, small_world)
    history = trainer.train()
    assert [h["phase"] for h in history] == ["rce"]
    assert sorted(p.name for p in (tmp_path / "run").glob("*.pt")) == ["rce_epoch1.pt"]


def test_freeze_backbone_trains_only_the_pointer_head(tmp_path, small_data, small_world):
    trainer = make_trainer(tmp_path, small_data, small_world, rce_epochs=0, grpo_epochs=1, freeze_backbone_in_grpo=True)
    before = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    trainer.train()
    after = trainer.model.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed == {"query_proj.weight", "cand_proj.weight"}
    assert sorted(p.name for p in (tmp_path / "run").glob("*.pt")) == ["grpo_epoch1.pt"]


def test_rce_reward_switch(tmp_path, small_data, small_world, monkeypatch):
    for raw in (False, True):
        trainer = make_trainer(tmp_path / str(raw), small_data, small_world, rce_use_raw_reward=raw)
        seen = []
        original = PointerSelector.rce_loss

        def spy(self, batch, rewards, temperature):
            seen.append((rewards is batch.beam_rewards_raw, rewards is batch.beam_rewards))
            return original(self, batch, rewards, temperature)

        monkeypatch.setattr(PointerSelector, "rce_loss", spy)
        trainer._rce_epoch(0, torch.optim.SGD(trainer.model.parameters(), lr=0.0))
        monkeypatch.undo()
        assert seen and all(s == ((True, False) if raw else (False, True)) for s in seen)


def test_rce_raises_the_probability_of_the_best_candidate(tmp_path, small_data, small_world):
    trainer = make_trainer(tmp_path, small_data, small_world, rce_epochs=25, rce_lr=3e-3, val_fraction=0.0,
                           dropout=0.0, hidden_dim=32, label_smoothing=0.0)
    collate = RLCollate(small_world.embeddings)
    batch = collate(trainer.train_set.samples)

    rewards = batch.beam_rewards_raw.masked_fill(~batch.beam_mask, float("-inf"))
    best = rewards == rewards.max(-1, keepdim=True).values  # tied best candidates count together

    def best_probability():
        trainer.model.eval()
        with torch.no_grad():
            probabilities = trainer.model.sequence_log_probs(batch).exp()
        return (probabilities * best).sum(-1)

    spread = (best | ~batch.beam_mask).sum(-1) < batch.beam_mask.shape[-1]  # some candidate is worse
    assert spread.float().mean() > 0.5
    before = best_probability()[spread]
    trainer.train()
    after = best_probability()[spread]
    raised = (after > before).float().mean().item()
    print(f"best candidates more likely after RCE for {raised:.0%} of queries")
    assert raised >= 0.9, f"only {raised:.0%} of queries"
    assert after.mean() > before.mean()


SCRIPT = """
import sys, torch
from leverplus.world import World, WorldConfig
from leverplus.rl_data import generate_rl_data
from leverplus.train import GRPOTrainer, Reporter, TrainerConfig, build_datasets, build_model, latest_checkpoint, seed_everything
world = World.build(WorldConfig(num_items=120, dim=16, seed=5))
data = generate_rl_data(world, list(range(48)), pool_size=12, seed=5, log=lambda m: None)
config = TrainerConfig(output_dir=sys.argv[1], batch_size=4, rce_epochs=2, grpo_epochs=2, hidden_dim=16,
                       rce_lr=1e-3, grpo_lr=1e-3, freeze_backbone_in_grpo=True)
seed_everything(config.seed)
train_set, val_set = build_datasets(config, data, world.embeddings)
model = build_model(config, world.embeddings, data.shot_num)
trainer = GRPOTrainer(config, model, train_set, val_set, Reporter(None))
if len(sys.argv) > 2:
    trainer.resume(latest_checkpoint(sys.argv[1]))
trainer.train()
torch.save(trainer.model.state_dict(), sys.argv[1] + "/final.pt")
"""


@pytest.mark.parametrize("kill_at_step", [13, 28])  # mid RCE epoch 2, mid GRPO epoch 2 (10 steps an epoch)
def test_killed_run_resumes_bit_for_bit(tmp_path, kill_at_step):
    def run(directory, *extra, env=None):
        return subprocess.run([sys.executable, "-c", textwrap.dedent(SCRIPT), str(directory), *extra], cwd=REPO,
                              env=env, capture_output=True, text=True, timeout=300)

    import os
    reference = run(tmp_path / "uninterrupted")
    assert reference.returncode == 0, reference.stderr
    killed = run(tmp_path / "killed", env={**os.environ, "LEVERPLUS_KILL_AT_STEP": str(kill_at_step)})
    assert killed.returncode == -9, "the run must really die by SIGKILL"
    assert not (tmp_path / "killed" / "final.pt").exists()
    assert not list((tmp_path / "killed").glob("*.tmp")), "no half-written checkpoint is left behind"
    resumed = run(tmp_path / "killed", "--resume")
    assert resumed.returncode == 0, resumed.stderr
    expected = torch.load(tmp_path / "uninterrupted" / "final.pt")
    actual = torch.load(tmp_path / "killed" / "final.pt")
    assert expected.keys() == actual.keys()
    assert all(torch.equal(expected[k], actual[k]) for k in expected)
