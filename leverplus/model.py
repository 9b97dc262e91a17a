"""`PointerSelector`: the v2 scorer (spec §2.2) with the v3 losses, batched over many queries.

Scoring: candidates and the query go through one input projection; the query attends to the
candidates through `num_layers` cross-attention layers (candidates are not updated); query and
candidate projections, dropout, L2 normalisation, and cosine scores divided by a fixed temperature
0.1. The decoder has no state: step t's logits are the same scores with already-chosen entries set
to -100, so candidates are projected once per query, not once per step or per sequence.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import torch
from torch import nn

from leverplus import objectives

CHECKPOINT_FORMAT = "leverplus.checkpoint/1"
SELECTED_LOGIT = -100.0  # what an already-chosen candidate scores at later steps (not -inf, as upstream)


@dataclass(frozen=True)
class SelectorConfig:
    d_model: int = 512
    hidden_dim: int = 256
    num_heads: int = 1
    num_layers: int = 1
    dropout: float = 0.1
    attn_dropout: float = 0.1
    label_smoothing: float = 0.1
    shot_num: int = 2
    score_temperature: float = 0.1
    version: int = 1

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> "SelectorConfig":
        known = {k: v for k, v in data.items() if k in cls.__dataclass_fields__}
        return cls(**known)


class PointerSelector(nn.Module):
    def __init__(self, config: SelectorConfig) -> None:
        super().__init__()
        self.config = config
        d, h = config.d_model, config.hidden_dim
        self.input_proj = nn.Linear(d, h, bias=False) if d != h else nn.Identity()
        self.cross_attn_layers = nn.ModuleList(
            nn.MultiheadAttention(h, config.num_heads, dropout=config.attn_dropout, batch_first=True)
            for _ in range(config.num_layers))
        self.attn_norms = nn.ModuleList(nn.LayerNorm(h) for _ in range(config.num_layers))
        self.query_proj = nn.Linear(h, h, bias=False)
        self.cand_proj = nn.Linear(h, h, bias=False)
        self.dropout = nn.Dropout(config.dropout)
        self._init_weights()

    def _init_weights(self) -> None:
        if isinstance(self.input_proj, nn.Linear):
            nn.init.xavier_uniform_(self.input_proj.weight)
        for projection in (self.query_proj, self.cand_proj):
            with torch.no_grad():
                projection.weight.copy_(torch.eye(projection.weight.shape[0]) + 0.01 * torch.randn_like(projection.weight))

    # -- parameter groups (3.5.2: GRPO may train the pointer head only) --------------------
    def backbone_parameters(self):
        """Input projection and cross-attention (with its norms): the representation."""
        yield from self.input_proj.parameters()
        yield from self.cross_attn_layers.parameters()
        yield from self.attn_norms.parameters()

    def head_parameters(self):
        """The pointer head: the query and candidate scoring projections."""
        yield from self.query_proj.parameters()
        yield from self.cand_proj.parameters()

    # -- scoring ---------------------------------------------------------------------------
    def scores(self, query_emb: torch.Tensor, item_emb: torch.Tensor, pool_index: torch.Tensor,
               cand_mask: torch.Tensor) -> torch.Tensor:
        """Query [B, d], distinct items [U, d], pools [B, K] (rows of items), mask [B, K] -> cosine
        scores / T, [B, K] (padding: -inf). Items shared by several pools are projected once."""
        query = self.input_proj(query_emb).unsqueeze(1)
        items = self.input_proj(item_emb)
        for attention, norm in zip(self.cross_attn_layers, self.attn_norms):
            query = norm(self._attend(attention, query, items, pool_index, cand_mask) + query)
        query = nn.functional.normalize(self.dropout(self.query_proj(query.squeeze(1))), dim=-1)
        # dropout per distinct item: an item in two pools of one batch shares its mask
        candidates = nn.functional.normalize(self.dropout(self.cand_proj(items)), dim=-1)[pool_index]
        scores = torch.einsum("bh,bkh->bk", query, candidates) / self.config.score_temperature
        return scores.masked_fill(~cand_mask, float("-inf"))

    def _attend(self, layer: nn.MultiheadAttention, query: torch.Tensor, items: torch.Tensor,
                pool_index: torch.Tensor, cand_mask: torch.Tensor) -> torch.Tensor:
        """`layer(query, C, C, key_padding_mask=~mask)` for a one-token query, computed with the layer's
        own weights but projecting keys and values once per distinct item rather than once per pool slot."""
        b, k = pool_index.shape
        heads = layer.num_heads
        width = query.shape[-1] // heads
        w_q, w_k, w_v = layer.in_proj_weight.chunk(3)
        b_q, b_k, b_v = layer.in_proj_bias.chunk(3)
        q = nn.functional.linear(query, w_q, b_q).view(b, 1, heads, width).transpose(1, 2)
        keys_values = nn.functional.linear(items, torch.cat([w_k, w_v]), torch.cat([b_k, b_v]))[pool_index]
        keys, values = (part.reshape(b, k, heads, width).transpose(1, 2) for part in keys_values.chunk(2, dim=-1))
        logits = (q @ keys.transpose(-1, -2)) / width ** 0.5
        weights = torch.softmax(logits.masked_fill(~cand_mask[:, None, None, :], float("-inf")), dim=-1)
        weights = nn.functional.dropout(weights, p=layer.dropout, training=self.training)
        attended = (weights @ values).transpose(1, 2).reshape(b, 1, heads * width)
        return layer.out_proj(attended)

    @staticmethod
    def step_logits(scores: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Teacher-forced logits: scores [B, K], labels [B, N, S] -> [B, N, S, K]; at step t the
        candidates chosen at steps < t score -100."""
        b, n, s = labels.shape
        k = scores.shape[-1]
        chosen = torch.nn.functional.one_hot(labels.clamp(min=0), k).bool()  # [B, N, S, K]
        before = torch.cumsum(chosen.int(), dim=2) - chosen.int()  # chosen strictly before step t
        logits = scores[:, None, None, :].expand(b, n, s, k)
        return logits.masked_fill(before.bool(), SELECTED_LOGIT)

    def _sequence_terms(self, batch, labels: torch.Tensor, smoothing: float):
        """(per-sequence Σ_t log π(y_t), per-sequence Σ_t CE_ε) for labels [B, N, S]."""
        scores = self.scores(batch.query_emb, batch.item_emb, batch.pool_index, batch.cand_mask)
        logits = self.step_logits(scores, labels)
        valid = batch.cand_mask[:, None, None, :].expand_as(logits)
        log_probs = torch.log_softmax(logits, dim=-1)
        picked = log_probs.gather(-1, labels.clamp(min=0).unsqueeze(-1)).squeeze(-1).sum(-1)
        ce = objectives.label_smoothed_nll(logits, labels.clamp(min=0), valid, smoothing).sum(-1)
        return picked, ce

    # -- losses ------------------------------------------------------------------------------
    def sequence_log_probs(self, batch) -> torch.Tensor:
        """log π(sequence | query) for every candidate sequence, [B, N] (0 on padding)."""
        picked, _ = self._sequence_terms(batch, batch.beam_labels, 0.0)
        return picked.masked_fill(~batch.beam_mask, 0.0)

    def sft_loss(self, batch, labels: torch.Tensor) -> torch.Tensor:
        """Label-smoothed teacher-forced CE of one target sequence per query, labels [B, S], mean over B·S."""
        _, ce = self._sequence_terms(batch, labels.unsqueeze(1), self.config.label_smoothing)
        return ce.mean() / labels.shape[-1]

    def rce_loss(self, batch, rewards: torch.Tensor, temperature: float) -> torch.Tensor:
        """(1/B) Σ_b Σ_i softmax(r_b/τ)_i · Σ_t CE_ε: reward-weighted imitation of the candidates."""
        weights = objectives.rce_weights(rewards, batch.beam_mask, temperature)
        _, ce = self._sequence_terms(batch, batch.beam_labels, self.config.label_smoothing)
        return (weights * ce.masked_fill(~batch.beam_mask, 0.0)).sum(-1).mean()

    def grpo_loss(self, batch, old_log_probs: torch.Tensor, top_k: int, kl_beta: float,
                  clip_epsilon: float = 0.2) -> dict[str, torch.Tensor]:
        """PPO-clip on group advantages of the raw rewards, plus β·k3-KL to the reference policy."""
        keep = objectives.top_k_by_reward(batch.beam_rewards_raw, batch.beam_mask, top_k)
        new_log_probs = self.sequence_log_probs(batch)
        advantages = objectives.group_advantages(batch.beam_rewards_raw, keep)
        ppo, ratio = objectives.ppo_clip_objective(new_log_probs, old_log_probs, advantages, keep, clip_epsilon)
        kl = objectives.k3_kl(new_log_probs, old_log_probs, keep)
        kept = keep.sum().clamp(min=1)
        return {"loss": ppo + kl_beta * kl, "ppo_loss": ppo.detach(), "kl": kl.detach(),
                "mean_ratio": ((ratio * keep).sum() / kept).detach(),
                "max_advantage": advantages.abs().max().detach()}

    # -- inference ---------------------------------------------------------------------------
    @torch.no_grad()
    def select(self, query_emb: torch.Tensor, cand_emb: torch.Tensor, cand_mask: torch.Tensor,
               shot_num: int | None = None) -> torch.Tensor:
        """Greedy choice of `shot_num` distinct pool positions per query, [B, S] (= top-S by score)."""
        shots = shot_num or self.config.shot_num
        smallest = int(cand_mask.sum(-1).min())
        if shots > smallest:
            raise ValueError(f"shot_num {shots} is larger than the candidate pool ({smallest}); "
                             "refusing to repeat a candidate")
        was_training = self.training
        self.eval()
        b, k, d = cand_emb.shape
        pool_index = torch.arange(b * k, device=cand_emb.device).view(b, k)
        try:
            return self.scores(query_emb, cand_emb.reshape(b * k, d), pool_index, cand_mask).topk(shots, dim=-1).indices
        finally:
            self.train(was_training)


def parameter_count(parameters) -> int:
    return sum(p.numel() for p in parameters)


def load_sft_weights(model: PointerSelector, state_dict: dict, max_missing_fraction: float = 0.0,
                     log=print) -> tuple[list[str], list[str]]:
    """Load SFT weights, report every mismatch, and raise when parameters are left unloaded.

    `max_missing_fraction` is the fraction of the model's tensors the user accepts to leave at their
    initialisation (default 0: every tensor must load), and likewise the fraction of the checkpoint's
    tensors that may go unused (extra layers would otherwise be dropped silently).
    """
    missing, unexpected = model.load_state_dict(state_dict, strict=False)
    total = len(model.state_dict())
    if missing:
        log(f"[sft] {len(missing)}/{total} model tensors missing from the checkpoint: {', '.join(missing[:10])}")
    if unexpected:
        log(f"[sft] {len(unexpected)} unexpected checkpoint tensors: {', '.join(unexpected[:10])}")
    missing_fraction = len(missing) / max(total, 1)
    if missing_fraction > max_missing_fraction:
        raise RuntimeError(
            f"SFT checkpoint leaves {len(missing)} of {total} tensors unloaded ({missing_fraction:.0%}), more than the "
            f"allowed {max_missing_fraction:.0%}; missing: {', '.join(missing[:10])}"
            + (f"; unexpected: {', '.join(unexpected[:10])}" if unexpected else ""))
    unexpected_fraction = len(unexpected) / max(len(state_dict), 1)
    if unexpected_fraction > max_missing_fraction:
        raise RuntimeError(f"{len(unexpected)} of the SFT checkpoint's {len(state_dict)} tensors do not belong to this "
                           f"model (unexpected: {', '.join(unexpected[:10])})")
    if not missing and not unexpected:
        log(f"[sft] all {total} tensors loaded")
    return list(missing), list(unexpected)


def checkpoint_payload(model: PointerSelector, **extra) -> dict:
    return {"format": CHECKPOINT_FORMAT, "selector_config": model.config.to_dict(), "model": model.state_dict(), **extra}


def model_from_checkpoint(payload: dict) -> PointerSelector:
    if payload.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"not a leverplus checkpoint (format {payload.get('format')!r})")
    model = PointerSelector(SelectorConfig.from_dict(payload["selector_config"]))
    model.load_state_dict(payload["model"])
    return model
