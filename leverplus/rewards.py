"""Reward modes: one table of formulas, one function (spec §3).

h = vqa_correct (0/1), s = vqa_acc_score in [0, 1], w_h / w_s = hard / soft weight, I = info_score.
Every reward is clipped to `clip` ([-5, 5]) afterwards.

Worked examples (tests/leverplus/test_rewards_and_objectives.py pins each), a correct candidate with
s = 0.6 and default weights: hard_plus_soft 1.6 · hard_plus_soft_v2 2.6 · separated 2.6 · hard_only 1.0
· soft_only 0.6 · hybrid (I = 0.05, w_h = 0.5) 0.5·0.75 + 0.5·2.6 = 1.675 · legacy (alpha 1, beta 1,
beam_score 0.2) 1.2.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class RewardInputs:
    correct: float
    acc: float
    beam_score: float | None = None
    logprob_score: float | None = None
    info_score: float | None = None


@dataclass(frozen=True)
class RewardWeights:
    hard_weight: float = 1.0
    soft_weight: float = 1.0
    alpha: float = 0.0  # legacy: weight of the InfoScore / log-prob quality term
    beta: float = 0.0  # legacy: weight of the correctness term
    correctness_mode: str = "01"  # legacy: "01" or "pm1"
    use_logprob: bool = False  # legacy: quality from -logprob_score instead of beam_score
    clip: tuple[float, float] = (-5.0, 5.0)


def _hybrid(x: RewardInputs, w: RewardWeights) -> float:
    """α·I' + (1-α)·c: InfoScore I mapped from its usual range [-0.1, 0.1] to I' in [0, 1], mixed with a
    correctness term c (2 + s when correct, else s) by α = clip(w_h, 0, 1).

    Deviation from the research code: it fed `beam_score` (the pointer network's beam probability sum)
    where its design names InfoScore, so with default weights a wrong beam candidate scored 1.0 and a
    fully correct sample 0.5. Here I is the candidate's `info_score`, and a candidate without one is an
    error, not a silent 0."""
    if x.info_score is None:
        raise ValueError("reward_mode hybrid needs the candidate's info_score")
    info = min(max((x.info_score + 0.1) / 0.2, 0.0), 1.0)
    correctness = 2.0 + x.acc if x.correct == 1.0 else x.acc
    mix = min(max(w.hard_weight, 0.0), 1.0)
    return mix * info + (1.0 - mix) * correctness


def _legacy(x: RewardInputs, w: RewardWeights) -> float:
    signal = x.correct if w.correctness_mode == "01" else 2.0 * x.correct - 1.0
    if w.use_logprob and x.logprob_score is not None:
        quality = -x.logprob_score
    else:
        quality = x.beam_score if x.beam_score is not None else 0.0
    return w.alpha * quality + w.beta * signal


REWARD_MODES: dict[str, Callable[[RewardInputs, RewardWeights], float]] = {
    "hard_plus_soft": lambda x, w: w.hard_weight * x.correct + w.soft_weight * x.acc,
    "hard_plus_soft_v2": lambda x, w: w.soft_weight * x.acc + 2.0 * w.hard_weight * x.correct,
    "separated": lambda x, w: (2.0 * w.hard_weight + w.soft_weight * x.acc) if x.correct == 1.0 else w.soft_weight * x.acc,
    "hard_only": lambda x, w: w.hard_weight * x.correct,
    "soft_only": lambda x, w: w.soft_weight * x.acc,
    "hybrid": _hybrid,
    "legacy": _legacy,
}


def compute_reward(inputs: RewardInputs, mode: str = "hard_plus_soft", weights: RewardWeights = RewardWeights()) -> float:
    try:
        formula = REWARD_MODES[mode]
    except KeyError:
        raise ValueError(f"unknown reward_mode {mode!r}; choose one of {', '.join(REWARD_MODES)}") from None
    if weights.correctness_mode not in ("01", "pm1"):
        raise ValueError(f"correctness_mode must be '01' or 'pm1', not {weights.correctness_mode!r}")
    low, high = weights.clip
    return float(min(max(formula(inputs, weights), low), high))
