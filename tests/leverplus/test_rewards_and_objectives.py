"""Every formula against hand-computed values (spec §11 vectors where they apply)."""

from __future__ import annotations

import math

import pytest
import torch

from leverplus import objectives
from leverplus.rewards import REWARD_MODES, RewardInputs, RewardWeights, compute_reward


@pytest.mark.parametrize("correct,acc,expected", [(1, 0.3, 1.3), (0, 0.0, 0.0), (1, 1.0, 2.0), (1, 0.9, 1.9)])
def test_hard_plus_soft(correct, acc, expected):
    assert compute_reward(RewardInputs(correct, acc)) == pytest.approx(expected)


@pytest.mark.parametrize("correct", [0, 1])
@pytest.mark.parametrize("acc", [0.0, 0.3, 0.6, 0.9, 1.0])
def test_separated_equals_hard_plus_soft_v2_for_binary_correctness(correct, acc):
    inputs = RewardInputs(correct, acc)
    assert compute_reward(inputs, "separated") == pytest.approx(compute_reward(inputs, "hard_plus_soft_v2"))


# worked examples, one per mode (the table in rewards.py's docstring): a correct candidate, s = 0.6
@pytest.mark.parametrize("mode, inputs, weights, expected", [
    ("hard_plus_soft", RewardInputs(1, 0.6), RewardWeights(), 1.6),
    ("hard_plus_soft", RewardInputs(1, 0.6), RewardWeights(hard_weight=2.0, soft_weight=0.5), 2.3),
    ("hard_plus_soft_v2", RewardInputs(1, 0.6), RewardWeights(), 2.6),
    ("separated", RewardInputs(1, 0.6), RewardWeights(), 2.6),
    ("separated", RewardInputs(0, 0.6), RewardWeights(), 0.6),
    ("hard_only", RewardInputs(1, 0.6), RewardWeights(), 1.0),
    ("soft_only", RewardInputs(1, 0.6), RewardWeights(), 0.6),
    ("hybrid", RewardInputs(1, 0.6, info_score=0.05), RewardWeights(hard_weight=0.5), 0.5 * 0.75 + 0.5 * 2.6),
    ("hybrid", RewardInputs(0, 0.0, info_score=0.0), RewardWeights(hard_weight=1.0), 0.5),  # spec vector 6
    ("hybrid", RewardInputs(1, 1.0, info_score=-0.3), RewardWeights(hard_weight=1.0), 0.0),  # I clipped at 0
    ("legacy", RewardInputs(1, 0.6, beam_score=0.2), RewardWeights(alpha=1.0, beta=1.0), 1.2),
    ("legacy", RewardInputs(0, 0.0, logprob_score=-0.7), RewardWeights(alpha=1.0, use_logprob=True), 0.7),
    ("legacy", RewardInputs(0, 0.0), RewardWeights(beta=1.0, correctness_mode="pm1"), -1.0),  # spec vector 7
])
def test_worked_examples(mode, inputs, weights, expected):
    assert compute_reward(inputs, mode, weights) == pytest.approx(expected)


def test_hybrid_reads_info_score_never_the_beam_probability():
    # the research code's bug: beam_score (a beam probability sum) where InfoScore belongs
    wrong_beam = RewardInputs(0, 0.0, beam_score=0.9, info_score=-0.1)
    assert compute_reward(wrong_beam, "hybrid", RewardWeights(hard_weight=1.0)) == 0.0
    with pytest.raises(ValueError, match="needs the candidate's info_score"):
        compute_reward(RewardInputs(1, 1.0, beam_score=0.9), "hybrid")


def test_hybrid_and_legacy_vectors():
    legacy = RewardWeights(alpha=0.0, beta=1.0, correctness_mode="pm1")
    assert compute_reward(RewardInputs(0, 0.0), "legacy", legacy) == pytest.approx(-1.0)
    assert compute_reward(RewardInputs(1, 1.0, beam_score=3.0), "legacy") == 0.0, "legacy defaults are all zero"


def test_every_mode_is_clipped():
    huge = RewardWeights(hard_weight=100.0, soft_weight=100.0, alpha=100.0, beta=100.0)
    for mode in REWARD_MODES:
        value = compute_reward(RewardInputs(1, 1.0, beam_score=50.0, logprob_score=-50.0, info_score=50.0), mode, huge)
        assert -5.0 <= value <= 5.0, mode
    with pytest.raises(ValueError, match="unknown reward_mode"):
        compute_reward(RewardInputs(1, 1.0), "infoscore")


def test_temperature_schedule():
    assert objectives.rce_temperature(0, 100) == 2.0
    assert objectives.rce_temperature(99, 100) == 0.5
    assert objectives.rce_temperature(33, 100) == pytest.approx(2.0 - 1.5 * 33 / 99)
    assert objectives.rce_temperature(0, 1) == 0.5


def test_adaptive_kl_beta():
    assert objectives.adaptive_kl_beta(0.15, 0.1) == pytest.approx(0.15)
    assert objectives.adaptive_kl_beta(0.005, 0.1) == pytest.approx(0.0667, abs=1e-4)
    assert objectives.adaptive_kl_beta(0.05, 0.1) == pytest.approx(0.1)
    assert objectives.adaptive_kl_beta(1.0, 9.0) == 10.0 and objectives.adaptive_kl_beta(0.0, 0.0012) == 0.001


def test_group_advantages():
    mask = torch.tensor([[True, True, True, False], [True, False, False, False], [True, True, True, True]])
    rewards = torch.tensor([[1.0, 1.0, 1.0, 0.0], [2.0, 0.0, 0.0, 0.0], [2.0, 0.0, 0.0, 0.0]])
    advantages = objectives.group_advantages(rewards, mask)
    assert torch.equal(advantages[0], torch.zeros(4)), "an all-equal group has zero advantage"
    assert torch.equal(advantages[1], torch.zeros(4)), "a one-candidate group has zero advantage, not NaN"
    std = torch.tensor([2.0, 0.0, 0.0, 0.0]).std().item()
    assert advantages[2].tolist() == pytest.approx([1.5 / std, -0.5 / std, -0.5 / std, -0.5 / std])
    assert torch.isfinite(advantages).all()
    spread = objectives.group_advantages(torch.tensor([[100.0] + [0.0] * 40]), torch.ones(1, 41, dtype=torch.bool))
    assert spread.max() == 5.0, "clipped to ±5"
    floor = objectives.group_advantages(torch.tensor([[0.01, 0.0]]), torch.ones(1, 2, dtype=torch.bool))
    assert floor[0, 0] == pytest.approx(0.005 / 0.1), "std floor 0.1"


def test_rce_weights_worked_example():
    """Spec §2.5: raw [2, 0×9] at τ=2 gives w₊ ≈ 0.23; z-scored it gives ≈ 0.35."""
    mask = torch.ones(1, 10, dtype=torch.bool)
    raw = torch.tensor([[2.0] + [0.0] * 9])
    assert objectives.rce_weights(raw, mask, 2.0)[0, 0] == pytest.approx(math.e / (math.e + 9), abs=1e-6)
    assert objectives.rce_weights(raw, mask, 2.0)[0, 0] == pytest.approx(0.23, abs=0.005)
    assert objectives.rce_weights(objectives.zscore(raw, mask), mask, 2.0)[0, 0] == pytest.approx(0.35, abs=0.01)
    padded = objectives.rce_weights(torch.tensor([[1.0, 1.0, 9.0]]), torch.tensor([[True, True, False]]), 1.0)
    assert padded.tolist() == [[0.5, 0.5, 0.0]]


def test_k3_kl_and_ppo_clip():
    mask = torch.ones(1, 2, dtype=torch.bool)
    new, old = torch.tensor([[math.log(2.0), 0.0]]), torch.zeros(1, 2)
    assert objectives.k3_kl(new, old, mask).item() == pytest.approx((2 - 1 - math.log(2)) / 2)
    loss, ratio = objectives.ppo_clip_objective(new, old, torch.tensor([[1.0, -1.0]]), mask, 0.2)
    assert ratio[0].tolist() == pytest.approx([2.0, 1.0])
    assert loss.item() == pytest.approx(-(1.2 * 1.0 + 1.0 * -1.0) / 2)


def test_batched_grpo_weighs_every_query_the_same():
    # query 0 keeps 3 candidates, query 1 one: each query's mean counts once
    mask = torch.tensor([[True, True, True], [True, False, False]])
    values = torch.tensor([[1.0, 1.0, 1.0], [4.0, 9.0, 9.0]])
    assert objectives.per_query_mean(values, mask).item() == pytest.approx((1.0 + 4.0) / 2)
    empty = torch.tensor([[True, True, True], [False, False, False]])
    assert objectives.per_query_mean(values, empty).item() == pytest.approx(1.0), "a query with none is left out"
    new, old = torch.tensor([[0.0, 0.0, 0.0], [math.log(2.0), 0.0, 0.0]]), torch.zeros(2, 3)
    advantages = torch.tensor([[1.0, -1.0, 0.0], [1.0, 0.0, 0.0]])
    loss, _ = objectives.ppo_clip_objective(new, old, advantages, mask, 0.2)
    assert loss.item() == pytest.approx(-((1.0 - 1.0 + 0.0) / 3 + 1.2) / 2)


def test_top_k_ties_go_to_the_earlier_candidate_in_float32():
    rewards = torch.tensor([[1.0, 1.0, 1.0, 1.0]], dtype=torch.float32)  # exact ties
    mask = torch.ones(1, 4, dtype=torch.bool)
    assert objectives.top_k_by_reward(rewards, mask, 2).tolist() == [[True, True, False, False]]
    close = torch.tensor([[1.0, 1.0 + 1e-9, 0.5]], dtype=torch.float32)  # equal once stored in float32
    assert objectives.top_k_by_reward(close, torch.ones(1, 3, dtype=torch.bool), 1).tolist() == [[True, False, False]]


def test_top_k_keeps_highest_rewards():
    keep = objectives.top_k_by_reward(torch.tensor([[0.1, 0.9, 0.5, 0.7]]), torch.tensor([[True, True, True, False]]), 2)
    assert keep.tolist() == [[False, True, True, False]]


# -- edges the mutation sweep (mutmut, see the README) showed untested ------------------------------------
def test_label_smoothed_nll_worked_example_with_padding():
    logits = torch.tensor([[1.0, 2.0, 3.0, 9.0]])
    valid = torch.tensor([[True, True, True, False]])  # the padded 9.0 gets no probability
    log_p = torch.log_softmax(torch.tensor([1.0, 2.0, 3.0]), -1)
    expected = 0.9 * -log_p[2] + 0.1 * -log_p.mean()
    got = objectives.label_smoothed_nll(logits, torch.tensor([2]), valid, 0.1)
    assert got.item() == pytest.approx(expected.item(), rel=1e-6)
    plain = objectives.label_smoothed_nll(logits, torch.tensor([2]), valid, 0.0)
    assert plain.item() == pytest.approx(-log_p[2].item(), rel=1e-6)


def test_k3_kl_and_ppo_with_a_nonzero_reference():
    mask = torch.ones(1, 2, dtype=torch.bool)
    new, old = torch.tensor([[0.5, 0.2]]), torch.tensor([[0.1, 0.4]])
    log_ratio = new - old
    expected = ((log_ratio.exp() - 1 - log_ratio).sum() / 2).item()
    assert objectives.k3_kl(new, old, mask).item() == pytest.approx(expected)
    # ratio e^-0.7 ≈ 0.50 below 1-ε with a negative advantage: the lower clip bound decides
    new, old = torch.tensor([[math.log(0.5)]]), torch.zeros(1, 1)
    loss, ratio = objectives.ppo_clip_objective(new, old, torch.tensor([[-1.0]]), torch.ones(1, 1, dtype=torch.bool), 0.2)
    assert ratio.item() == pytest.approx(0.5) and loss.item() == pytest.approx(0.8)
    loss, _ = objectives.ppo_clip_objective(torch.tensor([[0.3]]), torch.tensor([[0.3 - math.log(0.5)]]),
                                            torch.tensor([[-1.0]]), torch.ones(1, 1, dtype=torch.bool), 0.2)
    assert loss.item() == pytest.approx(0.8), "the ratio is new minus old in log space"


def test_group_advantages_are_clipped_on_both_sides():
    rewards = torch.ones(1, 40)
    rewards[0, 0] = 0.0  # one outlier among forty: its z-score is about -6.2
    advantages = objectives.group_advantages(rewards, torch.ones(1, 40, dtype=torch.bool))
    assert advantages.min().item() == pytest.approx(-5.0) and advantages.max().item() <= 5.0
    assert objectives.group_advantages(-rewards, torch.ones(1, 40, dtype=torch.bool)).max().item() == pytest.approx(5.0)


def test_zscore_of_two_uses_the_unbiased_std_and_one_entry_gives_zero():
    z = objectives.zscore(torch.tensor([[0.0, 2.0]]), torch.ones(1, 2, dtype=torch.bool))
    assert z.tolist() == [[pytest.approx(-1 / math.sqrt(2)), pytest.approx(1 / math.sqrt(2))]]
    single = objectives.zscore(torch.tensor([[3.0, 0.0]]), torch.tensor([[True, False]]))
    assert single.tolist() == [[0.0, 0.0]]


def test_rce_temperature_edges():
    assert objectives.rce_temperature(0, 2) == pytest.approx(2.0) and objectives.rce_temperature(1, 2) == pytest.approx(0.5)
    assert objectives.rce_temperature(150, 100) == pytest.approx(0.5), "past the end it stays at the end"
    assert objectives.rce_temperature(0, 1) == pytest.approx(0.5)


def test_adaptive_beta_boundaries_change_nothing():
    assert objectives.adaptive_kl_beta(0.1, 0.1) == pytest.approx(0.1), "KL exactly at the upper target"
    assert objectives.adaptive_kl_beta(0.01, 0.1) == pytest.approx(0.1), "KL exactly at the lower target"
    assert objectives.adaptive_kl_beta(1.0, 9.0) == pytest.approx(10.0) and objectives.adaptive_kl_beta(0.0, 0.0012) == 0.001


def test_reward_edges():
    assert compute_reward(RewardInputs(0, 0.0, info_score=0.5), "hybrid", RewardWeights(hard_weight=1.0)) == 1.0
    assert compute_reward(RewardInputs(0, 0.0, info_score=0.5), "hybrid", RewardWeights(hard_weight=1.5)) == 1.0
    assert compute_reward(RewardInputs(0, 0.0), "legacy", RewardWeights(beta=1.0)) == 0.0, "01: a wrong answer is 0"
    assert compute_reward(RewardInputs(1, 0.0), "legacy", RewardWeights(beta=1.0)) == 1.0
    both = RewardInputs(0, 0.0, beam_score=0.2, logprob_score=-0.7)
    assert compute_reward(both, "legacy", RewardWeights(alpha=1.0)) == pytest.approx(0.2), "beam_score unless asked"
    assert compute_reward(RewardInputs(0, 0.0), "legacy", RewardWeights(alpha=1.0)) == 0.0, "no quality: 0"


def test_reward_errors_say_what_is_wrong():
    with pytest.raises(ValueError, match=r"^reward_mode hybrid needs the candidate's info_score$"):
        compute_reward(RewardInputs(1, 1.0), "hybrid")
    with pytest.raises(ValueError, match=r"^unknown reward_mode 'x'; choose one of hard_plus_soft, hard_plus_soft_v2, "):
        compute_reward(RewardInputs(1, 1.0), "x")
    with pytest.raises(ValueError, match=r"^correctness_mode must be '01' or 'pm1', not 'yes'$"):
        compute_reward(RewardInputs(1, 1.0), "legacy", RewardWeights(correctness_mode="yes"))


def test_hybrid_and_legacy_correctness_terms():
    # α = 0: only the correctness term; a wrong answer scores its soft accuracy, a right one 2 + s
    assert compute_reward(RewardInputs(0, 0.3, info_score=0.0), "hybrid", RewardWeights(hard_weight=0.0)) == pytest.approx(0.3)
    assert compute_reward(RewardInputs(1, 0.3, info_score=0.0), "hybrid", RewardWeights(hard_weight=0.0)) == pytest.approx(2.3)
    pm1 = RewardWeights(beta=1.0, correctness_mode="pm1")
    assert compute_reward(RewardInputs(1, 1.0), "legacy", pm1) == 1.0 and compute_reward(RewardInputs(0, 0.0), "legacy", pm1) == -1.0
