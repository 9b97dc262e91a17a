"""RCE and GRPO training throughput (queries/s) of the batched trainer versus the same code at batch
size 1, over the same data, on CPU: 800 queries x ~10 candidates x pool 64 x dim 512.

    python benchmarks/train_throughput.py [--queries 800] [--batch-size 32] [--threads N]
"""

from __future__ import annotations

import argparse
import tempfile
import time

import torch

from leverplus.rl_data import generate_rl_data
from leverplus.train import GRPOTrainer, Reporter, TrainerConfig, build_datasets, build_model, seed_everything
from leverplus.world import World, WorldConfig


def throughput(data, world, batch_size: int, phase: str) -> float:
    with tempfile.TemporaryDirectory() as directory:
        config = TrainerConfig(output_dir=directory, batch_size=batch_size, val_fraction=0.2)
        seed_everything(0)
        train_set, val_set = build_datasets(config, data, world.embeddings)
        trainer = GRPOTrainer(config, build_model(config, world.embeddings, data.shot_num), train_set, val_set,
                              Reporter(None))
        optimizer = torch.optim.AdamW(trainer.model.parameters(), lr=1e-4)
        if phase == "rce":
            start = time.perf_counter()
            trainer._rce_epoch(0, optimizer)
        else:
            reference = trainer._reference_log_probs()
            start = time.perf_counter()
            trainer._grpo_epoch(0, optimizer, reference)
        return len(train_set) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--queries", type=int, default=800)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    world = World.build(WorldConfig(num_items=max(2000, args.queries + 100), dim=512))
    data = generate_rl_data(world, list(range(args.queries)), pool_size=64, log=lambda message: None)
    candidates = sum(len(q.pointer_candidates) for q in data.queries.values()) / len(data.queries)
    print(f"{args.queries} queries, {candidates:.1f} candidates each, pool 64, dim 512, "
          f"{torch.get_num_threads()} threads")
    for phase in ("rce", "grpo"):
        batched = throughput(data, world, args.batch_size, phase)
        single = throughput(data, world, 1, phase)
        print(f"{phase.upper():5s} batch {args.batch_size}: {batched:8.1f} queries/s   batch 1: {single:7.1f} queries/s"
              f"   speed-up {batched / single:5.1f}x")


if __name__ == "__main__":
    main()
