"""Evaluation: VQA accuracy for shot counts 1-4 with selectors random, similarity top-k, SFT and v3,
bootstrap confidence intervals over queries, paired differences, a JSON result and a PNG plot."""

from __future__ import annotations

import random
from typing import Callable

import torch

from leverplus.metrics import vqa_score
from leverplus.model import PointerSelector
from leverplus.rl_data import candidate_pool
from leverplus.world import World

Selector = Callable[[int, list[int], int], list[int]]  # (query id, pool, shots) -> item ids in prompt order


def random_selector(seed: int) -> Selector:
    def select(query_id: int, pool: list[int], shots: int) -> list[int]:
        return random.Random(f"random:{seed}:{query_id}:{shots}").sample(pool, shots)
    return select


def similarity_selector(embeddings: torch.Tensor) -> Selector:
    """Top-k by cosine similarity, the most similar placed last, next to the query."""
    def select(query_id: int, pool: list[int], shots: int) -> list[int]:
        similarity = embeddings[pool] @ embeddings[query_id]
        top = similarity.topk(shots).indices.tolist()
        return [pool[i] for i in reversed(top)]
    return select


def model_selector(model: PointerSelector, embeddings: torch.Tensor) -> Selector:
    model.eval()

    def select(query_id: int, pool: list[int], shots: int) -> list[int]:
        cands = embeddings[pool].unsqueeze(0)
        positions = model.select(embeddings[query_id].unsqueeze(0), cands, torch.ones(1, len(pool), dtype=torch.bool),
                                 shot_num=shots)
        return [pool[p] for p in positions[0].tolist()]
    return select


def accuracies(world: World, query_ids: list[int], selector: Selector, shots: int, pool_size: int, seed: int) -> list[float]:
    scores = []
    for query_id in query_ids:
        item = world.items[query_id]
        pool = candidate_pool(world.embeddings, query_id, pool_size, seed)
        prediction = world.answer(query_id, selector(query_id, pool, shots))
        scores.append(vqa_score(prediction, list(item.annotations) if item.annotations else None, [item.answer]).accuracy)
    return scores


def bootstrap_ci(values: list[float], samples: int, seed: int, level: float = 0.95) -> tuple[float, float]:
    rng = random.Random(seed)
    n = len(values)
    means = sorted(sum(values[rng.randrange(n)] for _ in range(n)) / n for _ in range(samples))
    low = means[int((1 - level) / 2 * samples)]
    high = means[min(int((1 + level) / 2 * samples), samples - 1)]
    return low, high


def evaluate(world: World, query_ids: list[int], selectors: dict[str, Selector], shots=(1, 2, 3, 4),
             pool_size: int = 32, seed: int = 0, bootstrap: int = 1000, reference: str = "v3", progress=None) -> dict:
    per_query: dict[str, dict[int, list[float]]] = {}
    result: dict = {"queries": len(query_ids), "pool_size": pool_size, "bootstrap": bootstrap, "accuracy": {},
                    "paired_difference": {}}
    for name, selector in selectors.items():
        per_query[name] = {}
        result["accuracy"][name] = {}
        for shot in shots:
            values = accuracies(world, query_ids, selector, shot, pool_size, seed)
            per_query[name][shot] = values
            low, high = bootstrap_ci(values, bootstrap, seed + shot)
            result["accuracy"][name][str(shot)] = {"mean": sum(values) / len(values), "ci95": [low, high]}
            if progress:
                progress()
    if reference in per_query:
        for name in per_query:
            if name == reference:
                continue
            result["paired_difference"][f"{reference}-{name}"] = {}
            for shot in shots:
                diffs = [a - b for a, b in zip(per_query[reference][shot], per_query[name][shot])]
                low, high = bootstrap_ci(diffs, bootstrap, seed + 100 + shot)
                result["paired_difference"][f"{reference}-{name}"][str(shot)] = {"mean": sum(diffs) / len(diffs),
                                                                                  "ci95": [low, high]}
    return result


def plot(result: dict, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(7.5, 4), dpi=120)
    for name, by_shot in result["accuracy"].items():
        shots = sorted(int(s) for s in by_shot)
        means = [by_shot[str(s)]["mean"] * 100 for s in shots]
        lows = [by_shot[str(s)]["ci95"][0] * 100 for s in shots]
        highs = [by_shot[str(s)]["ci95"][1] * 100 for s in shots]
        axis.plot(shots, means, marker="o", label=name)
        axis.fill_between(shots, lows, highs, alpha=0.15)
    axis.set_xlabel("shots (demonstrations)")
    axis.set_ylabel("VQA accuracy (%)")
    axis.set_xticks(sorted(int(s) for s in next(iter(result["accuracy"].values()))))
    axis.set_title(f"selectors on {result['queries']} held-out queries (95% bootstrap CI)")
    axis.grid(alpha=0.3)
    # beside the axes, never over a line or a confidence band
    axis.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, frameon=False)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
    return figure
