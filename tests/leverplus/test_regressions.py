"""One test per regression class that `benchmarks/mutation_check.py` plants: each fails when its bug
returns (each was checked by planting the bug once; the script re-checks them all)."""

from __future__ import annotations

import json

import pytest
import torch
from typer.testing import CliRunner

from leverplus import objectives
from leverplus.cli import app
from leverplus.data import QueryRecord, RLData
from leverplus.dataset import RLBeamDatasetWithEmbedding, RLCollate
from leverplus.evaluate import evaluate
from leverplus.model import PointerSelector, SelectorConfig, checkpoint_payload, model_from_checkpoint
from leverplus.rl_data import candidate_pool, generate_rl_data
from leverplus.train import TrainerConfig, build_datasets
from tests.leverplus.test_trainer import make_trainer

QUIET = {"log": lambda message: None}
runner = CliRunner()


def _trainer(tmp_path, data, world, **overrides):
    return make_trainer(tmp_path, data, world, **overrides)


def _metrics(tmp_path) -> list[dict]:
    return [json.loads(line) for line in (tmp_path / "metrics.jsonl").read_text().splitlines()]


# -- RL data generation ------------------------------------------------------------------------------
def test_rl_generation_proposes_from_the_given_selector(small_world):
    favourite = (3, 7)  # a selector that loves pool positions 3 and 7

    def scorer(query_id, pool):
        return torch.tensor([10.0 if i in favourite else 0.0 for i in range(len(pool))])

    data = generate_rl_data(small_world, list(range(5)), 16, seed=3, scorer=scorer, **QUIET)
    for record in data.queries.values():
        best = next(c for c in record.pointer_candidates if c.gen_method == "beam" and c.beam_rank == 0)
        assert set(best.pointer) == {record.candidate_pool[i] for i in favourite}


def test_random_pointers_cover_the_whole_pool(small_world, small_data):
    positions = set()
    for record in small_data.queries.values():
        where = {item: index for index, item in enumerate(record.candidate_pool)}
        for candidate in record.pointer_candidates:
            if candidate.gen_method == "random":
                positions |= {where[item] for item in candidate.pointer}
    assert max(positions) >= 12 and len(positions) >= 12, f"random pointers only at positions {sorted(positions)}"


# -- evaluation ----------------------------------------------------------------------------------------
def test_evaluation_offers_each_query_its_own_pool(small_world):
    seen = {}

    def spy(query_id, pool, shots):
        seen[query_id] = list(pool)
        return pool[:shots]

    evaluate(small_world, list(range(120, 130)), {"spy": spy}, shots=(1,), pool_size=16, seed=3, bootstrap=100,
             reference="spy")
    for query_id, pool in seen.items():
        assert pool == candidate_pool(small_world.embeddings, query_id, 16, 3)


def test_a_checkpoint_missing_tensors_is_refused_for_evaluation(tmp_path, small_world):
    model = PointerSelector(SelectorConfig(d_model=32, hidden_dim=16))
    payload = checkpoint_payload(model)
    payload["model"] = {k: v for k, v in payload["model"].items() if "query_proj" not in k}
    with pytest.raises(RuntimeError, match="Missing key"):
        model_from_checkpoint(payload)
    data = tmp_path / "data"
    assert runner.invoke(app, ["make-example-data", "--output-dir", str(data), "--num-items", "60",
                               "--num-queries", "8", "--pool-size", "8"]).exit_code == 0
    torch.save(payload, tmp_path / "partial.pt")
    result = runner.invoke(app, ["evaluate", "--data-dir", str(data), "--v3-ckpt", str(tmp_path / "partial.pt"),
                                 "--output", str(tmp_path / "e.json")])
    assert result.exit_code == 2 and "partial.pt" in result.output and "Missing key" in result.output


# -- training -------------------------------------------------------------------------------------------
def test_train_starts_from_the_sft_checkpoint(tmp_path):
    data = tmp_path / "data"
    assert runner.invoke(app, ["make-example-data", "--output-dir", str(data), "--num-items", "80",
                               "--num-queries", "24", "--pool-size", "8"]).exit_code == 0
    sft = runner.invoke(app, ["sft", "--beams", str(data / "sft_beams.json"), "--embeddings", str(data / "embeddings.pt"),
                              "--output", str(tmp_path / "sft.pt"), "--pool-size", "8", "--epochs", "1"])
    assert sft.exit_code == 0, sft.output
    trained = runner.invoke(app, ["train", "--rl-data", str(data / "rl_data.json"), "--embeddings",
                                  str(data / "embeddings.pt"), "--output-dir", str(tmp_path / "run"), "--rce-epochs",
                                  "1", "--rce-lr", "0", "--sft-ckpt", str(tmp_path / "sft.pt")])
    assert trained.exit_code == 0, trained.output
    start = torch.load(tmp_path / "sft.pt", weights_only=True)["model"]
    after = torch.load(tmp_path / "run" / "rce_epoch1.pt", weights_only=True)["model"]
    assert start.keys() == after.keys()
    assert all(torch.equal(start[k], after[k]) for k in start), "learning rate 0: the weights are the SFT weights"


def test_the_rce_temperature_falls_across_all_epochs(tmp_path, small_data, small_world):
    _trainer(tmp_path, small_data, small_world, rce_epochs=3).train()
    temperatures = [m["temperature"] for m in _metrics(tmp_path) if m.get("phase") == "rce" and "step" in m]
    assert temperatures[0] == pytest.approx(2.0) and temperatures[-1] == pytest.approx(0.5)
    assert all(a > b for a, b in zip(temperatures, temperatures[1:])), "one linear schedule, never restarted"


def test_grpo_adapts_beta_and_follows_the_top_k_curriculum(tmp_path, small_data, small_world):
    _trainer(tmp_path, small_data, small_world, grpo_epochs=2, grpo_early_epochs=1, grpo_early_top_k=3,
             grpo_late_top_k=5, kl_beta=0.1).train()
    steps = [m for m in _metrics(tmp_path) if m.get("phase") == "grpo" and "step" in m]
    assert {m["top_k"] for m in steps if m["epoch"] == 1} == {3} and {m["top_k"] for m in steps if m["epoch"] == 2} == {5}
    betas = [m["kl_beta"] for m in steps]
    assert betas[0] != pytest.approx(0.1) and len(set(betas)) > 1, "β follows the KL"


def test_validation_queries_are_held_out(small_data, small_world):
    train_set, val_set = build_datasets(TrainerConfig(val_fraction=0.25), small_data, small_world.embeddings)
    train_ids = {s.query_id for s in train_set.samples}
    val_ids = {s.query_id for s in val_set.samples}
    assert val_ids and not train_ids & val_ids
    assert min(val_ids) > max(train_ids), "the highest ids validate"


def _one_query_batch(rewards: list[float], world, normalize: bool = True):
    pool = candidate_pool(world.embeddings, 0, 8, 0)
    candidates = [{"pointer": [pool[i], pool[i + 1]], "gen_method": "beam", "vqa_correct": 0, "vqa_acc_score": r,
                   "vqa_eval_mode": "file"} for i, r in enumerate(rewards)]
    data = RLData(queries={0: QueryRecord.model_validate({"candidate_pool": pool, "pointer_candidates": candidates})})
    dataset = RLBeamDatasetWithEmbedding(data, world.embeddings, normalize_rewards=normalize)
    return RLCollate(world.embeddings, normalize_rewards=normalize)([dataset[0]])


def test_grpo_advantages_come_from_the_raw_rewards(small_world):
    # raw spread 0.05 < the std floor 0.1: advantages are centred / 0.1, at most 0.5; from the z-scored
    # rewards (spread 1) they would reach 1
    batch = _one_query_batch([0.0, 0.05, 0.1], small_world)
    model = PointerSelector(SelectorConfig(d_model=32, hidden_dim=16, dropout=0.0))
    with torch.no_grad():
        old = model.sequence_log_probs(batch)
    result = model.grpo_loss(batch, old, top_k=3, kl_beta=0.1)
    assert result["max_advantage"].item() == pytest.approx(0.5, abs=1e-5)


def test_rce_uses_label_smoothing(small_world):
    batch = _one_query_batch([0.0, 0.5, 1.0], small_world)
    torch.manual_seed(0)
    plain = PointerSelector(SelectorConfig(d_model=32, hidden_dim=16, dropout=0.0, label_smoothing=0.0)).eval()
    smoothed = PointerSelector(SelectorConfig(d_model=32, hidden_dim=16, dropout=0.0, label_smoothing=0.3)).eval()
    smoothed.load_state_dict(plain.state_dict())
    rewards = batch.beam_rewards
    assert smoothed.rce_loss(batch, rewards, 1.0).item() != pytest.approx(plain.rce_loss(batch, rewards, 1.0).item())


@pytest.mark.parametrize("normalize", [True, False])
def test_the_normalize_rewards_flag_is_honoured(small_world, normalize):
    batch = _one_query_batch([0.0, 0.5, 1.0], small_world, normalize)
    expected = objectives.zscore(batch.beam_rewards_raw, batch.beam_mask) if normalize else batch.beam_rewards_raw
    assert torch.allclose(batch.beam_rewards, expected)
    assert torch.equal(batch.beam_rewards, batch.beam_rewards_raw) is (not normalize)


def test_the_plot_legend_covers_no_data(tmp_path, small_world):
    from leverplus.evaluate import plot, random_selector, similarity_selector

    selectors = {"random": random_selector(0), "similarity": similarity_selector(small_world.embeddings)}
    result = evaluate(small_world, list(range(100, 130)), selectors, shots=(1, 2, 3), pool_size=16, bootstrap=100,
                      reference="similarity")
    figure = plot(result, tmp_path / "plot.png")
    axis = figure.axes[0]
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    renderer = FigureCanvasAgg(figure).get_renderer()
    legend = axis.get_legend().get_window_extent(renderer)
    assert not legend.overlaps(axis.get_window_extent(renderer)), "the legend sits beside the axes"
    assert legend.x1 <= figure.bbox.x1 + 1, "and inside the figure"
