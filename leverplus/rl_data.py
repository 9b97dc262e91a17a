"""RL data: candidate pools, candidate pointer sequences, and their VQA scores.

Per query: an explicit candidate pool (the query excluded), candidate sequences from a proposer
(beam search over selector scores, temperature samples, uniform random draws from the real pool),
deduplicated as *ordered* sequences (prompt order matters), each answered by a VLM backend and scored
with the VQA metric, recording `vqa_eval_mode` ("file" or "fallback") on every candidate.
"""

from __future__ import annotations

import random
from collections import Counter

import torch

from leverplus.data import PointerCandidate, QueryRecord, RLData
from leverplus.metrics import vqa_score
from leverplus.world import World


def candidate_pool(embeddings: torch.Tensor, query_id: int, size: int, rng: random.Random,
                   similar_fraction: float = 0.5) -> list[int]:
    """`size` items: the most similar half and a random rest, never the query itself."""
    similarity = embeddings @ embeddings[query_id]
    similarity[query_id] = float("-inf")
    similar = similarity.topk(int(size * similar_fraction)).indices.tolist()
    rest = [i for i in range(embeddings.shape[0]) if i != query_id and i not in set(similar)]
    return similar + rng.sample(rest, size - len(similar))


def beam_search(scores: torch.Tensor, shot_num: int, num_beams: int) -> list[tuple[list[int], float, float]]:
    """Pointer beam search over stateless step scores: (positions, Σ prob, Σ log-prob), best first."""
    beams: list[tuple[list[int], float, float]] = [([], 0.0, 0.0)]
    for _ in range(shot_num):
        expanded = []
        for positions, prob_sum, logprob in beams:
            logits = scores.clone()
            if positions:
                logits[positions] = -100.0
            log_probs = torch.log_softmax(logits, dim=-1)
            top = log_probs.topk(min(num_beams, len(logits) - len(positions)))
            for value, index in zip(top.values.tolist(), top.indices.tolist()):
                expanded.append((positions + [index], prob_sum + float(torch.exp(torch.tensor(value))), logprob + value))
        beams = sorted(expanded, key=lambda beam: -beam[2])[:num_beams]
    return beams


def sample_sequence(scores: torch.Tensor, shot_num: int, temperature: float, generator: torch.Generator):
    positions, logprob = [], 0.0
    for _ in range(shot_num):
        logits = scores.clone()
        if positions:
            logits[positions] = float("-inf")
        probs = torch.softmax(logits / temperature, dim=-1)
        index = int(torch.multinomial(probs, 1, generator=generator))
        positions.append(index)
        logprob += float(torch.log(probs[index] + 1e-8))
    return positions, logprob


def propose(scores: torch.Tensor, shot_num: int, rng: random.Random, generator: torch.Generator, num_beams: int = 5,
            temperatures: tuple[float, ...] = (1.0, 1.3), samples_per_temperature: int = 2, num_random: int = 1) -> list[dict]:
    """Candidate sequences as pool positions with provenance; ordered duplicates keep the first."""
    proposals = []
    for rank, (positions, prob_sum, logprob) in enumerate(beam_search(scores, shot_num, num_beams)):
        proposals.append({"positions": positions, "gen_method": "beam", "beam_rank": rank, "beam_score": prob_sum,
                          "logprob_score": logprob})
    for temperature in temperatures:
        for _ in range(samples_per_temperature):
            positions, logprob = sample_sequence(scores, shot_num, temperature, generator)
            proposals.append({"positions": positions, "gen_method": "sample", "temperature": temperature,
                              "logprob_score": logprob})
    for _ in range(num_random):
        proposals.append({"positions": rng.sample(range(len(scores)), shot_num), "gen_method": "random"})
    unique, seen = [], set()
    for proposal in proposals:
        key = tuple(proposal["positions"])
        if key not in seen:
            seen.add(key)
            unique.append(proposal)
    return unique


def score_candidates(world: World, query_id: int, pool: list[int], proposals: list[dict]) -> list[PointerCandidate]:
    query = world.items[query_id]
    scored = []
    for proposal in proposals:
        pointer = [pool[p] for p in proposal["positions"]]
        prediction = world.answer(query_id, pointer)
        score = vqa_score(prediction, list(query.annotations) if query.annotations else None, [query.answer])
        scored.append(PointerCandidate(
            pointer=pointer, gen_method=proposal["gen_method"], beam_rank=proposal.get("beam_rank"),
            beam_score=proposal.get("beam_score"), logprob_score=proposal.get("logprob_score"),
            temperature=proposal.get("temperature"), vqa_pred_answer=prediction, vqa_correct=score.correct,
            vqa_acc_score=score.accuracy, vqa_eval_mode=score.mode))
    return scored


def eval_mode_counts(data: RLData) -> Counter:
    return Counter(c.vqa_eval_mode for q in data.queries.values() for c in q.pointer_candidates)


def generate_rl_data(world: World, query_ids: list[int], pool_size: int = 32, shot_num: int = 2, seed: int = 0,
                     scorer=None, log=print, **proposal_options) -> RLData:
    """RL data for `query_ids`; `scorer(query_id, pool) -> scores [K]` proposes (default: cosine / 0.1)."""
    embeddings = world.embeddings
    queries = {}
    for query_id in query_ids:
        rng = random.Random(f"{seed}:{query_id}")
        generator = torch.Generator().manual_seed(seed * 1_000_003 + query_id)
        pool = candidate_pool(embeddings, query_id, pool_size, rng)
        scores = scorer(query_id, pool) if scorer else (embeddings[pool] @ embeddings[query_id]) / 0.1
        proposals = propose(scores, shot_num, rng, generator, **proposal_options)
        queries[query_id] = QueryRecord(candidate_pool=pool,
                                        pointer_candidates=score_candidates(world, query_id, pool, proposals))
    data = RLData(meta={"generator": "leverplus.rl_data", "backend": "simulated", "world": world.config.__dict__,
                        "pool_size": pool_size, "shot_num": shot_num, "seed": seed, **proposal_options},
                  queries=queries)
    counts = eval_mode_counts(data)
    total = sum(counts.values())
    log(f"scored {total} candidates of {len(queries)} queries")
    log(f"  official VQA metric (file): {counts['file']} ({counts['file'] / max(total, 1):.1%})")
    log(f"  fallback string match:      {counts['fallback']} ({counts['fallback'] / max(total, 1):.1%})")
    return data
