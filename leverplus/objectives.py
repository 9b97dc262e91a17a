"""The v3 training formulas, each in one place (spec §2.3-2.6).

Shapes: B queries, N candidate sequences per query (padded, `beam_mask` marks real ones), S steps.
"""

from __future__ import annotations

import torch


def label_smoothed_nll(logits: torch.Tensor, target: torch.Tensor, valid: torch.Tensor, smoothing: float) -> torch.Tensor:
    """CE_ε(z, y) = (1-ε)(-log p_y) + ε·mean_k(-log p_k) over the *valid* entries k; returns per-row loss.

    logits [..., K], target [...], valid [..., K] (False for padded candidates, which get no probability).
    """
    log_probs = torch.log_softmax(logits.masked_fill(~valid, float("-inf")), dim=-1)
    nll = -log_probs.gather(-1, target.unsqueeze(-1)).squeeze(-1)
    if smoothing == 0.0:
        return nll
    uniform = -(log_probs.masked_fill(~valid, 0.0)).sum(-1) / valid.sum(-1).clamp(min=1)
    return (1.0 - smoothing) * nll + smoothing * uniform


def rce_temperature(step: int, total_steps: int, start: float = 2.0, end: float = 0.5) -> float:
    """Linear per optimisation step across all RCE epochs: `start` at step 0, `end` at the last step."""
    if total_steps <= 1:
        return end
    progress = min(max(step / (total_steps - 1), 0.0), 1.0)
    return start + (end - start) * progress


def rce_weights(rewards: torch.Tensor, beam_mask: torch.Tensor, temperature: float) -> torch.Tensor:
    """w = softmax(r / τ) over the real candidates of each query (padding gets weight 0)."""
    scaled = (rewards / temperature).masked_fill(~beam_mask, float("-inf"))
    return torch.softmax(scaled, dim=-1).masked_fill(~beam_mask, 0.0)


def zscore(values: torch.Tensor, mask: torch.Tensor, std_floor: float = 0.0, eps: float = 1e-12) -> torch.Tensor:
    """Per-row (x - mean) / std with the unbiased std over masked entries; rows of one entry or with
    (near-)zero spread give 0 instead of NaN."""
    count = mask.sum(-1, keepdim=True).clamp(min=1)
    mean = (values * mask).sum(-1, keepdim=True) / count
    centred = (values - mean) * mask
    variance = (centred ** 2).sum(-1, keepdim=True) / (count - 1).clamp(min=1)
    std = variance.sqrt()
    degenerate = (count <= 1) | (std <= eps)
    result = centred / std.clamp(min=max(std_floor, eps))
    return torch.where(degenerate, torch.zeros_like(result), result) * mask


def group_advantages(raw_rewards: torch.Tensor, mask: torch.Tensor, std_floor: float = 0.1, clip: float = 5.0) -> torch.Tensor:
    """GRPO advantages from the *raw* rewards: one z-score with a std floor, clipped (never a z-score of
    already z-scored rewards). A single-candidate group has advantage 0."""
    return zscore(raw_rewards, mask, std_floor=std_floor).clamp(-clip, clip) * mask


def per_query_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean over each query's real candidates, then over the queries that have any: every query of a
    batch weighs the same, however many candidates it keeps — what batch size 1 (upstream) computes,
    averaged. (A mean over all candidates of the batch would weigh a query by its candidate count.)"""
    counts = mask.sum(-1)
    rows = (values * mask).sum(-1) / counts.clamp(min=1)
    present = counts > 0
    return rows[present].sum() / present.sum().clamp(min=1)


def k3_kl(new_log_probs: torch.Tensor, old_log_probs: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """KL ≈ mean(ρ - 1 - log ρ), ρ = exp(new - old), per query over its real candidates, then over queries."""
    log_ratio = (new_log_probs - old_log_probs).masked_fill(~mask, 0.0)
    ratio = log_ratio.exp()
    return per_query_mean(ratio - 1.0 - log_ratio, mask)


def ppo_clip_objective(new_log_probs, old_log_probs, advantages, mask, clip_epsilon: float = 0.2):
    """L_PPO = -mean[min(ρA, clip(ρ, 1-ε, 1+ε)A)], per query over its real candidates, then over
    queries; returns (loss, ratio)."""
    ratio = (new_log_probs - old_log_probs).masked_fill(~mask, 0.0).exp()
    unclipped = ratio * advantages
    clipped = ratio.clamp(1.0 - clip_epsilon, 1.0 + clip_epsilon) * advantages
    loss = -per_query_mean(torch.minimum(unclipped, clipped), mask)
    return loss, ratio


def adaptive_kl_beta(kl: float, beta: float, target_min: float = 0.01, target_max: float = 0.1, factor: float = 1.5,
                     beta_min: float = 0.001, beta_max: float = 10.0) -> float:
    """β ← β·1.5 when KL > 0.1, β/1.5 when KL < 0.01, then clamped to [0.001, 10]."""
    if kl > target_max:
        beta *= factor
    elif kl < target_min:
        beta /= factor
    return min(max(beta, beta_min), beta_max)


def top_k_by_reward(rewards: torch.Tensor, mask: torch.Tensor, k: int) -> torch.Tensor:
    """A mask keeping each query's k highest-reward real candidates; among equal rewards the earlier
    candidate wins (a stable sort, exact in any dtype: an epsilon offset would vanish in float32)."""
    n = rewards.shape[-1]
    if k >= n:
        return mask.clone()
    order = torch.sort(rewards.masked_fill(~mask, float("-inf")), dim=-1, descending=True, stable=True).indices
    keep = torch.zeros_like(mask)
    keep.scatter_(-1, order[..., :k], True)
    return keep & mask
