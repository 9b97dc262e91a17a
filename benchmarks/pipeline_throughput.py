"""VQA-metric throughput (answers/s) and RL data generation on the simulated backend (queries/s).

    python benchmarks/pipeline_throughput.py
"""

from __future__ import annotations

import random
import time

from leverplus.metrics import official_accuracy, vqa_score
from leverplus.rl_data import generate_rl_data
from leverplus.world import ANSWER_TYPES, World, WorldConfig


def metric_throughput(count: int = 20000) -> None:
    rng = random.Random(0)
    vocabulary = [a for answers in ANSWER_TYPES.values() for a in answers] + ["The Dog.", "two", "a red one"]
    cases = [(rng.choice(vocabulary), [rng.choice(vocabulary) for _ in range(10)]) for _ in range(count)]
    for variant in ("official", "openflamingo"):
        start = time.perf_counter()
        for prediction, answers in cases:
            official_accuracy(prediction, answers, variant)
        print(f"VQA accuracy ({variant:12s}): {count / (time.perf_counter() - start):10,.0f} answers/s")
    start = time.perf_counter()
    for prediction, answers in cases:
        vqa_score(prediction, None, answers[:1])
    print(f"fallback string match:        {count / (time.perf_counter() - start):10,.0f} answers/s")


def generation_throughput(queries: int = 800) -> None:
    world = World.build(WorldConfig(num_items=1500))
    start = time.perf_counter()
    data = generate_rl_data(world, list(range(queries)), pool_size=32, log=lambda message: None)
    elapsed = time.perf_counter() - start
    candidates = sum(len(q.pointer_candidates) for q in data.queries.values())
    print(f"RL data generation (simulated backend, pool 32): {queries / elapsed:,.0f} queries/s, "
          f"{candidates / elapsed:,.0f} scored candidates/s")


if __name__ == "__main__":
    metric_throughput()
    generation_throughput()
