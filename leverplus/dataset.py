"""`RLBeamDatasetWithEmbedding`: RL JSON + item embeddings -> per-query tensors, and the batch collate.

Per query: its explicit candidate pool (embedding rows), every candidate pointer mapped strictly to
pool positions, its reward (`beam_rewards_raw`) and the per-query z-scored reward (`beam_rewards`).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import torch
from torch.utils.data import Dataset

from leverplus.data import RLData
from leverplus.objectives import zscore
from leverplus.rewards import RewardInputs, RewardWeights, compute_reward


@dataclass
class RLSample:
    query_id: int
    pool: list[int]  # item ids; position = index in this list
    labels: list[list[int]]  # [n, S] pool positions
    rewards: list[float]  # raw
    logprobs: list[float | None]
    tensors: tuple = ()  # (pool, labels, rewards) as tensors, built once for the collate

    def __post_init__(self) -> None:
        self.tensors = (torch.tensor(self.pool), torch.tensor(self.labels), torch.tensor(self.rewards))


class RLBeamDatasetWithEmbedding(Dataset):
    def __init__(
        self,
        rl_data: RLData,
        embeddings: torch.Tensor,
        query_ids: list[int] | None = None,
        shot_num: int | None = None,
        reward_mode: str = "hard_plus_soft",
        reward_weights: RewardWeights = RewardWeights(),
        normalize_rewards: bool = True,
        skip_fallback_reward: bool = False,
        require_positive_query: bool = False,
        filter_gen_methods: list[str] | None = None,
    ) -> None:
        self.embeddings = embeddings
        self.shot_num = shot_num or rl_data.shot_num
        self.normalize_rewards = normalize_rewards
        self.skip_fallback_reward = skip_fallback_reward
        self.samples: list[RLSample] = []
        self.skipped_fallback = 0
        self.dropped_queries: dict[str, int] = {"no_candidate_left": 0, "no_positive": 0}
        for query_id in sorted(query_ids if query_ids is not None else rl_data.queries):
            record = rl_data.queries[query_id]
            self._check_rows(query_id, [query_id, *record.candidate_pool])
            position = {item: index for index, item in enumerate(record.candidate_pool)}
            labels, rewards, logprobs = [], [], []
            for index, candidate in enumerate(record.pointer_candidates):
                if filter_gen_methods is not None and candidate.gen_method not in filter_gen_methods:
                    continue
                if self.skip_fallback_reward and candidate.vqa_eval_mode == "fallback":
                    self.skipped_fallback += 1
                    continue
                if len(candidate.pointer) != self.shot_num:
                    raise ValueError(f"query {query_id}: pointer_candidates[{index}] has {len(candidate.pointer)} "
                                     f"items, expected shot_num={self.shot_num}")
                if reward_mode == "hybrid" and candidate.info_score is None:
                    raise ValueError(f"query {query_id}: pointer_candidates[{index}] has no info_score, which "
                                     f"reward_mode hybrid needs (generate-rl-data writes it: from the simulated "
                                     f"world, or from --beams with the hf backend)")
                labels.append([self._position(position, query_id, index, item) for item in candidate.pointer])
                rewards.append(compute_reward(
                    RewardInputs(candidate.vqa_correct, candidate.vqa_acc_score, candidate.beam_score,
                                 candidate.logprob_score, candidate.info_score), reward_mode, reward_weights))
                logprobs.append(candidate.logprob_score)
            if not labels:
                self.dropped_queries["no_candidate_left"] += 1
                continue
            if require_positive_query and max(rewards) < 1.0:
                self.dropped_queries["no_positive"] += 1
                continue
            self.samples.append(RLSample(query_id, list(record.candidate_pool), labels, rewards, logprobs))

    def _check_rows(self, query_id: int, items: list[int]) -> None:
        outside = [item for item in items if not 0 <= item < self.embeddings.shape[0]]
        if outside:
            raise KeyError(f"query {query_id}: item ids {outside[:5]} have no embedding row "
                           f"(the matrix has {self.embeddings.shape[0]} rows)")

    @staticmethod
    def _position(position: dict[int, int], query_id: int, candidate_index: int, item: int) -> int:
        """Strict pointer -> pool mapping: an id outside the pool is an error, never a silent fallback."""
        try:
            return position[item]
        except KeyError:
            raise KeyError(f"query {query_id}: pointer_candidates[{candidate_index}] points at item {item}, "
                           f"which is not in its candidate_pool") from None

    def __len__(self) -> int:
        return len(self.samples)

    def __getitem__(self, index: int) -> RLSample:
        return self.samples[index]


@dataclass
class RLBatch:
    """Many queries, padded: K = the largest pool, N = the most candidate sequences."""

    query_ids: list[int]
    query_emb: torch.Tensor  # [B, d]
    item_emb: torch.Tensor  # [U, d]: each distinct pool item of the batch once, projected once per step
    pool_index: torch.Tensor  # [B, K]: rows of item_emb (0 on padding)
    cand_mask: torch.Tensor  # [B, K] bool
    beam_labels: torch.Tensor  # [B, N, S] pool positions (0 on padding)
    beam_mask: torch.Tensor  # [B, N] bool
    beam_rewards: torch.Tensor  # [B, N] per-query z-scored (or raw when normalisation is off)
    beam_rewards_raw: torch.Tensor  # [B, N]

    def to(self, device) -> "RLBatch":
        moved = {f.name: getattr(self, f.name) for f in fields(self)}
        for name, value in moved.items():
            if isinstance(value, torch.Tensor):
                moved[name] = value.to(device)
        return RLBatch(**moved)

    def __len__(self) -> int:
        return len(self.query_ids)

    @property
    def cand_emb(self) -> torch.Tensor:
        """The padded candidate embeddings [B, K, d] (zeros on padding)."""
        return self.item_emb[self.pool_index] * self.cand_mask.unsqueeze(-1)


class RLCollate:
    """Collate function (a class so it pickles into DataLoader workers)."""

    def __init__(self, embeddings: torch.Tensor, normalize_rewards: bool = True) -> None:
        self.embeddings = embeddings
        self.normalize_rewards = normalize_rewards

    def __call__(self, samples: list[RLSample]) -> RLBatch:
        b = len(samples)
        k = max(len(s.pool) for s in samples)
        n = max(len(s.labels) for s in samples)
        shots = len(samples[0].labels[0])
        pools = torch.zeros(b, k, dtype=torch.long)
        cand_mask = torch.zeros(b, k, dtype=torch.bool)
        labels = torch.zeros(b, n, shots, dtype=torch.long)
        beam_mask = torch.zeros(b, n, dtype=torch.bool)
        raw = torch.zeros(b, n)
        for row, sample in enumerate(samples):
            pool, sample_labels, rewards = sample.tensors
            pools[row, : len(pool)] = pool
            cand_mask[row, : len(pool)] = True
            labels[row, : len(sample_labels)] = sample_labels
            beam_mask[row, : len(sample_labels)] = True
            raw[row, : len(rewards)] = rewards
        normalized = zscore(raw, beam_mask) if self.normalize_rewards else raw.clone()
        query_ids = [s.query_id for s in samples]
        items, pool_index = torch.unique(pools, return_inverse=True)
        return RLBatch(query_ids=query_ids, query_emb=self.embeddings[torch.tensor(query_ids)],
                       item_emb=self.embeddings[items], pool_index=pool_index, cand_mask=cand_mask,
                       beam_labels=labels, beam_mask=beam_mask, beam_rewards=normalized, beam_rewards_raw=raw)
