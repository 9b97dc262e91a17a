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


# The run under test, with its fault injection: the kill hooks live here, in the test, never in the trainer.
# KILL_AT_STEP: SIGKILL right after that optimiser step. KILL_SAVING: SIGKILL while that checkpoint is
# being written (its bytes are in the temporary file, the rename has not happened).
SCRIPT = """
import os, signal, sys, torch
from pathlib import Path
import leverplus.data
from leverplus.world import World, WorldConfig
from leverplus.rl_data import generate_rl_data
from leverplus.train import GRPOTrainer, Reporter, TrainerConfig, build_datasets, build_model, latest_checkpoint, seed_everything

kill_at_step, kill_saving = int(os.environ.get("KILL_AT_STEP", 0)), os.environ.get("KILL_SAVING")
if kill_at_step:
    real_step = GRPOTrainer._step
    def step(self, *args):
        real_step(self, *args)
        if self.state.global_step == kill_at_step:
            os.kill(os.getpid(), signal.SIGKILL)
    GRPOTrainer._step = step
if kill_saving:
    class OS:
        def __getattr__(self, name):
            return getattr(os, name)
        def replace(self, source, target):
            if Path(target).name == kill_saving:
                os.kill(os.getpid(), signal.SIGKILL)
            os.replace(source, target)
    leverplus.data.os = OS()

world = World.build(WorldConfig(num_items=120, dim=16, seed=5))
data = generate_rl_data(world, list(range(48)), pool_size=12, seed=5, log=lambda m: None)
config = TrainerConfig(output_dir=sys.argv[1], batch_size=4, rce_epochs=2, grpo_epochs=2, hidden_dim=16,
                       rce_lr=1e-3, grpo_lr=1e-3, freeze_backbone_in_grpo=True)
seed_everything(config.seed)
train_set, val_set = build_datasets(config, data, world.embeddings)
model = build_model(config, world.embeddings, data.shot_num)
trainer = GRPOTrainer(config, model, train_set, val_set, Reporter(Path(sys.argv[1]) / "metrics.jsonl"))
if len(sys.argv) > 2:
    trainer.resume(latest_checkpoint(sys.argv[1]))
trainer.train()
torch.save(trainer.model.state_dict(), sys.argv[1] + "/final.pt")
"""


def _run(directory, *extra, env=None):
    import os

    return subprocess.run([sys.executable, "-c", textwrap.dedent(SCRIPT), str(directory), *extra], cwd=REPO,
                          env={**os.environ, **(env or {})}, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    directory = tmp_path_factory.mktemp("uninterrupted")
    reference = _run(directory)
    assert reference.returncode == 0, reference.stderr
    return directory


# 10 steps an epoch: RCE 1-20, GRPO 21-40. Step 13: mid RCE epoch 2. Step 35: mid GRPO epoch 2, after
# grpo_epoch1.pt holds the GRPO optimizer, the frozen reference policy and the adapted beta.
@pytest.mark.parametrize("fault", [{"KILL_AT_STEP": "13"}, {"KILL_AT_STEP": "35"},
                                   {"KILL_SAVING": "rce_epoch2.pt"}, {"KILL_SAVING": "grpo_epoch1.pt"}],
                         ids=["mid-rce", "mid-grpo-after-a-grpo-checkpoint", "saving-rce2", "saving-grpo1"])
def test_killed_run_resumes_bit_for_bit(tmp_path, fault, uninterrupted):
    killed_dir = tmp_path / "killed"
    killed = _run(killed_dir, env=fault)
    assert killed.returncode == -9, f"the fault {fault} must really kill the run: {killed.stderr[-400:]}"
    assert not (killed_dir / "final.pt").exists()
    if "KILL_AT_STEP" in fault and fault["KILL_AT_STEP"] == "35":
        assert (killed_dir / "grpo_epoch1.pt").exists() and not (killed_dir / "grpo_epoch2.pt").exists()
    if "KILL_SAVING" in fault:
        assert not (killed_dir / fault["KILL_SAVING"]).exists(), "the checkpoint being written is not there"
    for checkpoint in killed_dir.glob("*.pt"):  # every checkpoint that exists is whole
        torch.load(checkpoint, weights_only=True)
    resumed = _run(killed_dir, "--resume")
    assert resumed.returncode == 0, resumed.stderr
    expected = torch.load(uninterrupted / "final.pt")
    actual = torch.load(killed_dir / "final.pt")
    assert expected.keys() == actual.keys()
    assert all(torch.equal(expected[k], actual[k]) for k in expected)
    # the metrics of the resumed run read like the uninterrupted run's: no step twice, none missing
    import json

    def steps(directory):
        entries = [json.loads(line) for line in (directory / "metrics.jsonl").read_text().splitlines()]
        return [e["step"] for e in entries if "step" in e], [(e["phase"], e["epoch"]) for e in entries if e.get("event")]

    assert steps(killed_dir) == steps(uninterrupted)
    assert steps(killed_dir)[0] == list(range(1, 41))
