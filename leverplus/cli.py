"""`leverplus`: make example data and train the v3 selector (RCE warm-up, optional GRPO)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

app = typer.Typer(name="leverplus", help="The Lever-Plus v3 selector: example data and training.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)
console = Console(stderr=True)


def _fail(message: str) -> None:
    console.print(f"[red]leverplus: error:[/red] {message}", markup=True, highlight=False, soft_wrap=True)
    raise typer.Exit(2)


@app.command("make-example-data")
def make_example_data(
    output_dir: Annotated[Path, typer.Option(help="Where to write rl_data.json and embeddings.pt.")] = Path("example-data"),
    num_items: Annotated[int, typer.Option(min=8, help="Items in the synthetic VQA world.")] = 600,
    num_queries: Annotated[int, typer.Option(min=2, help="Queries that get RL candidates.")] = 240,
    pool_size: Annotated[int, typer.Option(min=2, help="Candidate pool per query (the query excluded).")] = 32,
    shot_num: Annotated[int, typer.Option(min=1, help="Demonstrations per candidate sequence.")] = 2,
    seed: Annotated[int, typer.Option(help="Seed of the world and of the candidates.")] = 0,
) -> None:
    """Write a small, realistic RL JSON + item embeddings from the seeded synthetic VQA world."""
    from leverplus.data import save_embeddings, write_json_atomic
    from leverplus.rl_data import generate_rl_data
    from leverplus.world import World, WorldConfig

    if num_queries > num_items or pool_size >= num_items:
        _fail("need num_queries <= num_items and pool_size < num_items")
    world = World.build(WorldConfig(num_items=num_items, seed=seed))
    data = generate_rl_data(world, list(range(num_queries)), pool_size=pool_size, shot_num=shot_num, seed=seed,
                            log=lambda message: console.print(message, highlight=False))
    output_dir.mkdir(parents=True, exist_ok=True)
    write_json_atomic(output_dir / "rl_data.json", data.to_json())
    save_embeddings(output_dir / "embeddings.pt", world.embeddings)
    console.print(f"wrote {output_dir / 'rl_data.json'} and {output_dir / 'embeddings.pt'}\n"
                  f"next: leverplus train --rl-data {output_dir / 'rl_data.json'} "
                  f"--embeddings {output_dir / 'embeddings.pt'}", highlight=False)


@app.command()
def train(
    rl_data: Annotated[Path, typer.Option("--rl-data", help="RL JSON (pointer_candidates, candidate_pool).")],
    embeddings: Annotated[Path, typer.Option(help="Item embeddings [num_items, dim] (.pt).")],
    output_dir: Annotated[Path, typer.Option(help="Checkpoints rce_epoch{n}.pt / grpo_epoch{n}.pt and metrics.jsonl.")] = Path("runs/v3"),
    sft_ckpt: Annotated[Optional[Path], typer.Option(help="SFT checkpoint to start from (guarded load).")] = None,
    max_missing_fraction: Annotated[float, typer.Option(min=0.0, max=1.0, help="Fraction of model tensors an SFT checkpoint may leave unloaded.")] = 0.0,
    rce_epochs: Annotated[int, typer.Option(min=0, help="RCE warm-up epochs (the v3 recipe: 5).")] = 5,
    grpo_epochs: Annotated[int, typer.Option(min=0, help="GRPO epochs after RCE (default 0: RCE-only; GRPO is optional).")] = 0,
    rce_lr: Annotated[float, typer.Option(help="RCE learning rate.")] = 1e-4,
    grpo_lr: Annotated[float, typer.Option(help="GRPO learning rate (a notch below RCE's).")] = 1e-5,
    batch_size: Annotated[int, typer.Option(min=1, help="Queries per optimisation step.")] = 32,
    reward_mode: Annotated[str, typer.Option(help="hard_plus_soft | hard_plus_soft_v2 | separated | hard_only | soft_only | hybrid | legacy")] = "hard_plus_soft",
    hard_weight: Annotated[float, typer.Option(help="Weight of vqa_correct in the reward.")] = 1.0,
    soft_weight: Annotated[float, typer.Option(help="Weight of vqa_acc_score in the reward.")] = 1.0,
    skip_fallback_reward: Annotated[bool, typer.Option("--skip-fallback-reward/--no-skip-fallback-reward", help="Drop candidates scored by the fallback string match (both datasets).")] = False,
    rce_use_raw_reward: Annotated[bool, typer.Option(help="RCE on raw rewards instead of per-query z-scored ones.")] = False,
    freeze_backbone_in_grpo: Annotated[bool, typer.Option(help="GRPO trains only the pointer head (query/candidate projections).")] = False,
    kl_beta: Annotated[float, typer.Option(help="Initial KL coefficient (adapted during GRPO).")] = 0.1,
    num_layers: Annotated[int, typer.Option(min=1, help="Cross-attention layers.")] = 1,
    val_fraction: Annotated[float, typer.Option(min=0.0, max=0.9, help="Fraction of queries (highest ids) kept for validation.")] = 0.2,
    seed: Annotated[int, typer.Option(help="Seed of initialisation, shuffling and dropout.")] = 0,
    device: Annotated[str, typer.Option(help="cpu, cuda, cuda:1, ...")] = "cpu",
    resume: Annotated[bool, typer.Option(help="Continue from the latest checkpoint in --output-dir.")] = False,
) -> None:
    """Train the v3 selector: RCE warm-up, then GRPO when --grpo-epochs > 0."""
    from leverplus.data import DataError, load_embeddings, load_rl_data
    from leverplus.rewards import REWARD_MODES
    from leverplus.train import (
        GRPOTrainer,
        TrainerConfig,
        build_datasets,
        build_model,
        latest_checkpoint,
        seed_everything,
    )

    if reward_mode not in REWARD_MODES:
        _fail(f"unknown --reward-mode {reward_mode!r}; choose one of {', '.join(REWARD_MODES)}")
    config = TrainerConfig(
        rce_epochs=rce_epochs, rce_lr=rce_lr, grpo_epochs=grpo_epochs, grpo_lr=grpo_lr, batch_size=batch_size,
        kl_beta=kl_beta, rce_use_raw_reward=rce_use_raw_reward, freeze_backbone_in_grpo=freeze_backbone_in_grpo,
        skip_fallback_reward=skip_fallback_reward, reward_mode=reward_mode, hard_weight=hard_weight,
        soft_weight=soft_weight, val_fraction=val_fraction, seed=seed, device=device, output_dir=str(output_dir),
        max_missing_fraction=max_missing_fraction, num_layers=num_layers)
    try:
        data = load_rl_data(rl_data)
        matrix = load_embeddings(embeddings)
        seed_everything(seed)
        train_set, val_set = build_datasets(config, data, matrix)
    except (DataError, KeyError, ValueError) as exc:
        _fail(str(exc).strip('"'))
    if skip_fallback_reward:
        console.print(f"skip_fallback_reward: dropped {train_set.skipped_fallback + val_set.skipped_fallback} fallback "
                      f"candidates and {train_set.dropped_queries['no_candidate_left'] + val_set.dropped_queries['no_candidate_left']} "
                      "queries left without any", highlight=False, soft_wrap=True)
    model = build_model(config, matrix, data.shot_num)
    reporter = RichReporter(output_dir / "metrics.jsonl")
    try:
        trainer = GRPOTrainer(config, model, train_set, val_set, reporter)
        if resume:
            checkpoint = latest_checkpoint(output_dir)
            if checkpoint is None:
                _fail(f"--resume: no checkpoint in {output_dir}")
            trainer.resume(checkpoint)
            console.print(f"resuming from {checkpoint}", highlight=False)
        elif sft_ckpt is not None:
            trainer.load_sft_checkpoint(sft_ckpt)
        with reporter:
            history = trainer.train()
    except (RuntimeError, ValueError) as exc:
        _fail(str(exc))
    _summary(history, output_dir)


def _summary(history: list[dict], output_dir: Path) -> None:
    table = Table(title="training summary", title_justify="left")
    for column in ("phase", "epoch", "train loss", "val loss", "val picked reward", "val best reward"):
        table.add_column(column, justify="right" if column not in ("phase",) else "left")
    for entry in history:
        table.add_row(entry["phase"], str(entry["epoch"]), f"{entry['train_loss']:.4f}",
                      *(f"{entry[k]:.4f}" if k in entry else "-" for k in ("val_loss", "val_picked_reward", "val_best_reward")))
    Console().print(table)
    console.print(f"checkpoints and metrics.jsonl in {output_dir}", highlight=False)


class RichReporter:
    """Progress bars per phase, log lines above them, metrics to JSONL."""

    def __init__(self, metrics_path: Path) -> None:
        from leverplus.train import Reporter

        self._jsonl = Reporter(metrics_path)
        self._progress = None
        self._task = None

    def __enter__(self):
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        self._progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                  TextColumn("{task.fields[info]}"), TimeRemainingColumn(), console=console,
                                  disable=not console.is_terminal)
        self._progress.start()
        return self

    def __exit__(self, *exc) -> None:
        if self._progress is not None:
            self._progress.stop()

    def log(self, message: str) -> None:
        console.print(message, highlight=False, soft_wrap=True)

    def phase_started(self, phase: str, epochs: int, steps_per_epoch: int, start_epoch: int) -> None:
        if self._progress is not None:
            self._task = self._progress.add_task(phase.upper(), total=epochs * steps_per_epoch,
                                                 completed=start_epoch * steps_per_epoch, info="")

    def record(self, entry: dict) -> None:
        self._jsonl.record(entry)
        if self._progress is None or self._task is None:
            return
        if entry.get("event") == "epoch":
            info = f"epoch {entry['epoch']}: val picked reward {entry.get('val_picked_reward', float('nan')):.3f}"
            self._progress.update(self._task, info=info)
            console.print(f"{entry['phase']} epoch {entry['epoch']}: train loss {entry['train_loss']:.4f}"
                          + (f", val loss {entry['val_loss']:.4f}" if "val_loss" in entry else ""), highlight=False)
        else:
            self._progress.advance(self._task)


def main() -> None:
    try:
        app()
    except KeyboardInterrupt:
        console.print("leverplus: interrupted (resume with --resume)")
        sys.exit(130)


if __name__ == "__main__":
    main()
