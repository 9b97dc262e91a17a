"""The whole v3 chain on the simulated world: embeddings -> SFT -> RL data -> RCE -> evaluation."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path

import torch

from leverplus.data import LegacyBeamRecord, save_embeddings, write_json_atomic
from leverplus.evaluate import evaluate, model_selector, plot, random_selector, similarity_selector
from leverplus.model import PointerSelector
from leverplus.rl_data import generate_to_file, legacy_beams
from leverplus.sft import SFTConfig, save_sft, sft_samples, train_sft
from leverplus.train import GRPOTrainer, Reporter, TrainerConfig, build_datasets, build_model, seed_everything
from leverplus.world import World, WorldConfig


@dataclass
class DemoConfig:
    num_items: int = 1500
    train_queries: int = 800
    eval_queries: int = 500
    pool_size: int = 32
    sft_epochs: int = 10
    rce_epochs: int = 10  # the synthetic set is small: more epochs at a larger lr than the trainer's defaults
    rce_lr: float = 1e-3
    seed: int = 0
    bootstrap: int = 1000


def selector_scorer(model: PointerSelector, embeddings: torch.Tensor):
    """Selector scores over a pool, for beam search and sampling during RL generation (dropout off)."""
    model.eval()

    def scores(query_id: int, pool: list[int]) -> torch.Tensor:
        with torch.no_grad():
            return model.scores(embeddings[query_id].unsqueeze(0), embeddings[pool],
                                torch.arange(len(pool)).unsqueeze(0), torch.ones(1, len(pool), dtype=torch.bool))[0]
    return scores


def run_demo(config: DemoConfig, output_dir: Path, log=print, progress=None) -> dict:
    output_dir.mkdir(parents=True, exist_ok=True)
    world = World.build(WorldConfig(num_items=config.num_items, seed=config.seed))
    embeddings = world.embeddings
    save_embeddings(output_dir / "embeddings.pt", embeddings)
    (output_dir / "world.json").write_text(json.dumps(asdict(world.config), indent=2), encoding="utf-8")
    train_ids = list(range(config.train_queries))
    eval_ids = list(range(config.train_queries, config.train_queries + config.eval_queries))

    log("1/4 SFT on oracle beams (the legacy beam JSON)")
    beams_document = legacy_beams(world, train_ids, config.pool_size, seed=config.seed)
    write_json_atomic(output_dir / "sft_beams.json", beams_document)
    beams = {int(k): LegacyBeamRecord.model_validate(v) for k, v in beams_document.items()}
    sft_config = SFTConfig(epochs=config.sft_epochs, pool_size=config.pool_size, seed=config.seed)
    sft_model = train_sft(sft_samples(beams, embeddings, config.pool_size, config.seed), embeddings, sft_config, log=log)
    save_sft(sft_model, output_dir / "sft.pt", sft_config)

    log("2/4 RL data: SFT beam search, samples and random pointers, scored by the simulated VLM")
    data = generate_to_file(world, train_ids, output_dir / "rl_data.json", config.pool_size, seed=config.seed,
                            scorer=selector_scorer(sft_model, embeddings), log=log, progress=progress)

    log("3/4 RCE training from the SFT weights")
    trainer_config = TrainerConfig(output_dir=str(output_dir / "run"), rce_epochs=config.rce_epochs,
                                   rce_lr=config.rce_lr, seed=config.seed, val_fraction=0.1)
    seed_everything(config.seed)
    train_set, val_set = build_datasets(trainer_config, data, embeddings)
    model = build_model(trainer_config, embeddings, data.shot_num)
    trainer = GRPOTrainer(trainer_config, model, train_set, val_set, Reporter(output_dir / "run" / "metrics.jsonl"))
    trainer.load_sft_checkpoint(output_dir / "sft.pt")
    trainer.train()

    log("4/4 evaluation on held-out queries")
    selectors = {"random": random_selector(config.seed), "similarity": similarity_selector(embeddings),
                 "sft": model_selector(sft_model, embeddings), "v3": model_selector(trainer.model, embeddings)}
    result = evaluate(world, eval_ids, selectors, pool_size=config.pool_size, seed=config.seed,
                      bootstrap=config.bootstrap)
    result["config"] = asdict(config)
    write_json_atomic(output_dir / "evaluation.json", result)
    plot(result, output_dir / "evaluation.png")
    return result
