"""`leverplus`: make example data and train the v3 selector (RCE warm-up, optional GRPO)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

# accepted by every subcommand; main() reads it: an internal error shows its traceback only when asked
Verbose = Annotated[bool, typer.Option("--verbose", "-v", help="On an internal error, show the traceback.")]

app = typer.Typer(name="leverplus", help="The Lever-Plus v3 system: embeddings, SFT, RL data, RCE/GRPO training, evaluation.",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  # plain click help: wrapped to at most 80 columns, flags never truncated, no `<bool>` metavars
                  rich_markup_mode=None, context_settings={"max_content_width": 80, "help_option_names": ["-h", "--help"]})
console = Console(stderr=True)


def _fail(message: str) -> None:
    console.print(f"[red]leverplus: error:[/red] {message}", markup=True, highlight=False, soft_wrap=True)
    raise typer.Exit(2)


def _checkpoint(path: Path) -> dict:
    """A checkpoint loaded safely (weights only), or one line and exit 2."""
    from leverplus.train import load_checkpoint

    try:
        return load_checkpoint(path)
    except ValueError as exc:
        _fail(str(exc))
        raise AssertionError from exc


def _world_from(data_dir: Path):
    import dataclasses

    from leverplus.data import DataError, read_json
    from leverplus.world import World, WorldConfig

    path = data_dir / "world.json"
    if not path.is_file():
        _fail(f"{path} not found (written by make-example-data / demo)")
    try:
        settings = read_json(path, dict)
    except DataError as exc:
        _fail(str(exc))
    fields = {f.name: f.type for f in dataclasses.fields(WorldConfig)}
    unknown = sorted(set(settings) - set(fields))
    if unknown:
        _fail(f"{path}: unknown world setting(s) {', '.join(unknown)} (known: {', '.join(fields)})")
    for name, value in settings.items():  # the world's sizes and weights are numbers, nothing else
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (fields[name] == "int" and not isinstance(value, int)):
            _fail(f"{path}: {name} must be {'an integer' if fields[name] == 'int' else 'a number'}, found {value!r}")
    try:
        return World.build(WorldConfig(**settings))
    except (ValueError, RuntimeError) as exc:
        _fail(f"{path}: not a usable world ({exc})")


def _progress(total: int, description: str):
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    progress = Progress(TextColumn(description), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn(),
                        console=console, disable=not console.is_terminal, transient=True)
    task = progress.add_task(description, total=total)
    return progress, (lambda: progress.advance(task))


def _query_range(text: str, available: int) -> list[int]:
    """`--queries START:STOP` -> ids, or one line naming what is wrong (not an empty run, not a ZeroDivision)."""
    start, colon, stop = text.partition(":")
    if not (colon and start.strip().isdigit() and stop.strip().isdigit()):
        _fail(f"--queries {text!r}: expected START:STOP, e.g. 0:240")
    first, end = int(start), int(stop)
    if first >= end:
        _fail(f"--queries {text!r}: START must be below STOP (the range would be empty)")
    if end > available:
        _fail(f"--queries {text!r}: there are only {available} items (ids 0..{available - 1}); "
              f"use a range within them, e.g. --queries {min(first, max(available - 1, 0))}:{available}")
    return list(range(first, end))


def _shot_list(text: str, pool_size: int) -> tuple[int, ...]:
    parts = [part.strip() for part in text.split(",")]
    if not all(part.isdigit() and int(part) >= 1 for part in parts):
        _fail(f"--shots {text!r}: expected comma-separated counts of at least 1, e.g. 1,2,3,4")
    shots = tuple(int(part) for part in parts)
    if max(shots) > pool_size:
        _fail(f"--shots {text!r}: {max(shots)} demonstrations cannot come from a pool of {pool_size}")
    return shots


def _shard(text: Optional[str]) -> Optional[tuple[int, int]]:
    if text is None:
        return None
    index, _, count = text.partition("/")
    if not (index.isdigit() and count.isdigit()) or int(index) >= int(count):
        _fail(f"--shard {text!r}: expected I/N with 0 <= I < N")
    return int(index), int(count)


@app.command("make-example-data")
def make_example_data(
    output_dir: Annotated[Path, typer.Option(help="Where to write world.json, embeddings.pt, sft_beams.json and rl_data.json.")] = Path("example-data"),
    num_items: Annotated[int, typer.Option(min=8, help="Items in the synthetic VQA world.")] = 600,
    num_queries: Annotated[int, typer.Option(min=2, help="Queries that get SFT beams and RL candidates.")] = 240,
    pool_size: Annotated[int, typer.Option(min=2, help="Candidate pool per query (the query excluded).")] = 32,
    shot_num: Annotated[int, typer.Option(min=1, help="Demonstrations per candidate sequence.")] = 2,
    seed: Annotated[int, typer.Option(help="Seed of the world and of the candidates.")] = 0,
    verbose: Verbose = False,
) -> None:
    """Write a small, realistic data set from the seeded synthetic VQA world (RL JSON uses cosine proposals)."""
    import json

    from leverplus.data import save_embeddings, write_json_atomic
    from leverplus.rl_data import generate_rl_data, legacy_beams
    from leverplus.world import World, WorldConfig

    if num_queries > num_items or pool_size >= num_items:
        _fail("need num_queries <= num_items and pool_size < num_items")
    world = World.build(WorldConfig(num_items=num_items, seed=seed))
    queries = list(range(num_queries))
    data = generate_rl_data(world, queries, pool_size=pool_size, shot_num=shot_num, seed=seed,
                            log=lambda message: console.print(message, highlight=False))
    output_dir.mkdir(parents=True, exist_ok=True)
    (output_dir / "world.json").write_text(json.dumps(world.config.__dict__, indent=2), encoding="utf-8")
    write_json_atomic(output_dir / "rl_data.json", data.to_json())
    write_json_atomic(output_dir / "sft_beams.json", legacy_beams(world, queries, pool_size, shot_num, seed))
    save_embeddings(output_dir / "embeddings.pt", world.embeddings)
    console.print(f"wrote world.json, embeddings.pt, sft_beams.json and rl_data.json to {output_dir}\n"
                  f"next: leverplus train --rl-data {output_dir / 'rl_data.json'} "
                  f"--embeddings {output_dir / 'embeddings.pt'}", highlight=False, soft_wrap=True)


@app.command("export-embeddings")
def export_embeddings(
    model: Annotated[str, typer.Option(help="A CLIP model directory (transformers format).")],
    items: Annotated[Path, typer.Option(help="VQA items JSON [{id, image, question, answer, annotations}], ids 0..N-1.")],
    output: Annotated[Path, typer.Option(help="The item-embedding matrix to write (.pt).")] = Path("embeddings.pt"),
    batch_size: Annotated[int, typer.Option(min=1)] = 32,
    device: Annotated[str, typer.Option()] = "cpu",
    verbose: Verbose = False,
) -> None:
    """Embed every item with CLIP (normalised mean of image and question embeddings), row i = item i."""
    from leverplus.data import DataError, load_vqa_items, save_embeddings
    from leverplus.embeddings import clip_embeddings

    try:
        dataset = load_vqa_items(items)
    except DataError as exc:
        _fail(str(exc))
    progress, advance = _progress(-(-len(dataset.items) // batch_size), "embedding")
    try:
        with progress:
            matrix = clip_embeddings(model, dataset, batch_size, device, progress=advance)
    except (OSError, ValueError) as exc:
        _fail(str(exc))
    save_embeddings(output, matrix)
    console.print(f"wrote {output}: {tuple(matrix.shape)}", highlight=False)


@app.command()
def sft(
    beams: Annotated[Path, typer.Option(help="Legacy beam JSON (id_list / score_list).")],
    embeddings: Annotated[Path, typer.Option(help="Item embeddings [num_items, dim].")],
    output: Annotated[Path, typer.Option(help="The SFT checkpoint to write.")] = Path("runs/sft.pt"),
    pool_size: Annotated[int, typer.Option(min=2, help="Candidate pool per query (the same definition as RL data).")] = 32,
    epochs: Annotated[int, typer.Option(min=1)] = 10,
    lr: Annotated[float, typer.Option()] = 1e-3,
    batch_size: Annotated[int, typer.Option(min=1)] = 64,
    seed: Annotated[int, typer.Option(help="Seed of pools, initialisation and shuffling.")] = 0,
    verbose: Verbose = False,
) -> None:
    """Train the selector on the legacy beams, labels mapped to positions in each query's pool."""
    from leverplus.data import DataError, load_embeddings, load_legacy_beams
    from leverplus.sft import SFTConfig, save_sft, sft_samples, train_sft

    try:
        records, matrix = load_legacy_beams(beams), load_embeddings(embeddings)
        config = SFTConfig(epochs=epochs, lr=lr, batch_size=batch_size, pool_size=pool_size, seed=seed)
        samples = sft_samples(records, matrix, pool_size, seed)
    except (DataError, KeyError, ValueError) as exc:
        _fail(str(exc).strip('"'))
    progress, advance = _progress(epochs * -(-len(samples) // batch_size), "SFT")
    with progress:
        model = train_sft(samples, matrix, config, log=lambda m: console.print(m, highlight=False), progress=advance)
    save_sft(model, output, config)
    console.print(f"wrote {output}", highlight=False)


@app.command("generate-rl-data")
def generate_rl_data_command(
    output: Annotated[Path, typer.Option(help="RL JSON to write (resumes from <output>.partial.jsonl).")],
    data_dir: Annotated[Optional[Path], typer.Option(help="Simulated backend: folder with world.json.")] = None,
    backend: Annotated[str, typer.Option(help="simulated | hf")] = "simulated",
    model: Annotated[Optional[str], typer.Option(help="hf: a local model directory or hub id (Qwen2.5-VL style).")] = None,
    items: Annotated[Optional[Path], typer.Option(help="hf: VQA items JSON [{id, image, question, answer, annotations}].")] = None,
    embeddings: Annotated[Optional[Path], typer.Option(help="hf: item embeddings (rows = item ids), for the pools.")] = None,
    sft_ckpt: Annotated[Optional[Path], typer.Option(help="SFT checkpoint proposing beams and samples (guarded load).")] = None,
    beams: Annotated[Optional[Path], typer.Option(help="hf: legacy InfoScore beam JSON; candidates found in it get its info_score (hybrid reward).")] = None,
    queries: Annotated[str, typer.Option(help="Query ids: a range START:STOP.")] = "0:240",
    pool_size: Annotated[int, typer.Option(min=2)] = 32,
    shot_num: Annotated[int, typer.Option(min=1)] = 2,
    num_beams: Annotated[int, typer.Option(min=1)] = 5,
    num_random: Annotated[int, typer.Option(min=0)] = 1,
    shard: Annotated[Optional[str], typer.Option(help="I/N: only every N-th query starting at I (merge with merge-rl-data).")] = None,
    max_missing_fraction: Annotated[float, typer.Option(min=0.0, max=1.0)] = 0.0,
    seed: Annotated[int, typer.Option()] = 0,
    verbose: Verbose = False,
) -> None:
    """Propose candidate sequences per query (SFT beam search, temperature samples, random pointers from the
    query's real pool), score each with the VLM backend, and write the RL JSON incrementally."""
    import torch

    from leverplus.backends import HFBackend
    from leverplus.data import DataError, load_embeddings, load_vqa_items
    from leverplus.model import PointerSelector, SelectorConfig, load_sft_weights
    from leverplus.pipeline import selector_scorer
    from leverplus.rl_data import generate_to_file, shard_of
    from leverplus.runs import file_digest

    vlm, matrix = None, None
    if backend == "simulated":
        if data_dir is None:
            _fail("the simulated backend needs --data-dir (world.json)")
        world = _world_from(data_dir)
    elif backend == "hf":
        if model is None or items is None or embeddings is None:
            _fail("--backend hf needs --model, --items and --embeddings")
        try:
            world, matrix = load_vqa_items(items), load_embeddings(embeddings)
        except DataError as exc:
            _fail(str(exc))
        vlm = HFBackend(model)
    else:
        _fail(f"unknown --backend {backend!r} (simulated | hf)")
    query_ids = _query_range(queries, len(world.items))
    matrix = world.embeddings if matrix is None else matrix
    provenance = {"proposer": "cosine similarity / 0.1" if sft_ckpt is None
                  else {"sft_ckpt_sha256": file_digest(sft_ckpt) if sft_ckpt.is_file() else None}}
    if embeddings is not None:
        provenance["embeddings_sha256"] = file_digest(embeddings)
    known_info = None
    if beams is not None:
        from leverplus.data import load_legacy_beams
        from leverplus.rl_data import info_scores_from_beams

        try:
            known_info = info_scores_from_beams(load_legacy_beams(beams))
        except DataError as exc:
            _fail(str(exc))
        provenance["info_score"] = {"beams_sha256": file_digest(beams)}
    scorer = None
    if sft_ckpt is not None:
        payload = _checkpoint(sft_ckpt)
        try:
            selector = PointerSelector(SelectorConfig.from_dict(payload["selector_config"]))
            load_sft_weights(selector, payload["model"], max_missing_fraction, log=lambda m: console.print(m, highlight=False))
        except (KeyError, RuntimeError, ValueError) as exc:
            _fail(f"{sft_ckpt}: {exc}")
        scorer = selector_scorer(selector, matrix)
    parts = _shard(shard)
    if parts and output.name == "rl_data.json":
        output = output.with_name(f"rl_data.shard{parts[0]}of{parts[1]}.json")
    progress, advance = _progress(len(shard_of(query_ids, parts)), "scoring")
    try:
        with progress:
            generate_to_file(world, query_ids, output, pool_size, shot_num, seed, scorer, parts,
                             log=lambda m: console.print(m, highlight=False), progress=advance, backend=vlm,
                             embeddings=matrix, provenance=provenance, known_info=known_info, num_beams=num_beams,
                             num_random=num_random)
    except ValueError as exc:
        _fail(str(exc))
    console.print(f"wrote {output}", highlight=False)


@app.command("merge-rl-data")
def merge_rl_data_command(
    shards: Annotated[list[Path], typer.Argument(help="Shard files of one generation.")],
    output: Annotated[Path, typer.Option(help="The merged RL JSON.")],
    verbose: Verbose = False,
) -> None:
    """Merge the shards of one `generate-rl-data --shard I/N` run into one RL JSON."""
    from leverplus.data import DataError, load_rl_data, write_json_atomic
    from leverplus.rl_data import merge_rl_data

    for path in shards:
        if path.is_dir():
            _fail(f"{path}: is a directory, not a shard file")
    try:
        merged = merge_rl_data([load_rl_data(path) for path in shards], [str(path) for path in shards])
    except (DataError, ValueError) as exc:
        _fail(str(exc))
    write_json_atomic(output, merged.to_json())
    console.print(f"merged {len(shards)} shards, {len(merged.queries)} queries -> {output}", highlight=False)


@app.command()
def evaluate(
    data_dir: Annotated[Path, typer.Option(help="Folder with world.json (the simulated backend).")],
    v3_ckpt: Annotated[Optional[Path], typer.Option(help="Trained checkpoint (rce_epoch{n}.pt / grpo_epoch{n}.pt).")] = None,
    sft_ckpt: Annotated[Optional[Path], typer.Option(help="SFT checkpoint.")] = None,
    queries: Annotated[Optional[str], typer.Option(help="Held-out query ids START:STOP (default: the last min(500, N/2) of the world's N items, which make-example-data and demo never train on).")] = None,
    shots: Annotated[str, typer.Option(help="Comma-separated shot counts.")] = "1,2,3,4",
    pool_size: Annotated[int, typer.Option(min=2)] = 32,
    bootstrap: Annotated[int, typer.Option(min=100)] = 1000,
    output: Annotated[Path, typer.Option(help="Result JSON; the plot goes beside it as .png.")] = Path("runs/evaluation.json"),
    seed: Annotated[int, typer.Option()] = 0,
    verbose: Verbose = False,
) -> None:
    """VQA accuracy per selector and shot count with bootstrap confidence intervals, a JSON and a PNG plot."""
    import torch

    from leverplus.data import write_json_atomic
    from leverplus.evaluate import evaluate as run_evaluation
    from leverplus.evaluate import model_selector, plot, random_selector, similarity_selector
    from leverplus.model import model_from_checkpoint

    world = _world_from(data_dir)
    if queries is None:
        held_out = min(500, len(world.items) // 2)
        queries = f"{len(world.items) - held_out}:{len(world.items)}"
    query_ids = _query_range(queries, len(world.items))
    shot_list = _shot_list(shots, pool_size)
    selectors = {"random": random_selector(seed), "similarity": similarity_selector(world.embeddings)}
    for name, path in (("sft", sft_ckpt), ("v3", v3_ckpt)):
        if path is not None:
            try:  # strict: a checkpoint that leaves tensors unloaded would evaluate random weights
                model = model_from_checkpoint(_checkpoint(path))
            except (KeyError, RuntimeError, ValueError, TypeError) as exc:
                _fail(f"{path}: not a usable selector checkpoint: {' '.join(str(exc).split())[:300]}")
            if model.config.d_model != world.embeddings.shape[1]:
                _fail(f"{path}: a selector for {model.config.d_model}-dimensional embeddings, but the world's "
                      f"are {world.embeddings.shape[1]}-dimensional")
            selectors[name] = model_selector(model, world.embeddings)
    progress, advance = _progress(len(selectors) * len(shot_list), "evaluating")
    with progress:
        result = run_evaluation(world, query_ids, selectors, shot_list, pool_size, seed, bootstrap, progress=advance)
    write_json_atomic(output, result)
    plot(result, output.with_suffix(".png"))
    _accuracy_table(result)
    console.print(f"wrote {output} and {output.with_suffix('.png')}", highlight=False)


def _accuracy_table(result: dict) -> None:
    table = Table(title=f"VQA accuracy (%) on {result['queries']} held-out queries, 95% bootstrap CI", title_justify="left")
    shots = sorted(int(s) for s in next(iter(result["accuracy"].values())))
    table.add_column("selector")
    for shot in shots:
        table.add_column(f"shot {shot}", justify="right")
    for name, by_shot in result["accuracy"].items():
        table.add_row(name, *(f"{by_shot[str(s)]['mean'] * 100:.1f} [{by_shot[str(s)]['ci95'][0] * 100:.1f}, "
                              f"{by_shot[str(s)]['ci95'][1] * 100:.1f}]" for s in shots))
    Console(width=max(Console().width, 110)).print(table)


@app.command()
def demo(
    output_dir: Annotated[Path, typer.Option(help="Where every stage writes its files.")] = Path("runs/demo"),
    num_items: Annotated[int, typer.Option(min=100)] = 1500,
    train_queries: Annotated[int, typer.Option(min=10)] = 800,
    eval_queries: Annotated[int, typer.Option(min=10)] = 500,
    seed: Annotated[int, typer.Option()] = 0,
    verbose: Verbose = False,
) -> None:
    """The whole chain on the simulated world: embeddings -> SFT -> RL data -> RCE -> evaluation table."""
    from leverplus.pipeline import DemoConfig, run_demo

    if train_queries + eval_queries > num_items:
        _fail("need train_queries + eval_queries <= num_items")
    config = DemoConfig(num_items=num_items, train_queries=train_queries, eval_queries=eval_queries, seed=seed)
    progress, advance = _progress(train_queries, "RL data")
    with progress:
        result = run_demo(config, output_dir, log=lambda m: console.print(m, highlight=False), progress=advance)
    _accuracy_table(result)
    console.print(f"files in {output_dir}: evaluation.json, evaluation.png, sft.pt, rl_data.json, run/", highlight=False)


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
    legacy_alpha: Annotated[float, typer.Option(help="legacy mode: weight of the quality term.")] = 0.0,
    legacy_beta: Annotated[float, typer.Option(help="legacy mode: weight of the correctness term.")] = 0.0,
    legacy_correctness: Annotated[str, typer.Option(help="legacy mode: 01 (h) or pm1 (2h-1).")] = "01",
    legacy_use_logprob: Annotated[bool, typer.Option(help="legacy mode: quality from -logprob_score.")] = False,
    skip_fallback_reward: Annotated[bool, typer.Option("--skip-fallback-reward/--no-skip-fallback-reward", help="Drop candidates scored by the fallback string match (both datasets).")] = False,
    rce_use_raw_reward: Annotated[bool, typer.Option(help="RCE on raw rewards instead of per-query z-scored ones.")] = False,
    freeze_backbone_in_grpo: Annotated[bool, typer.Option(help="GRPO trains only the pointer head (query/candidate projections).")] = False,
    kl_beta: Annotated[float, typer.Option(help="Initial KL coefficient (adapted during GRPO).")] = 0.1,
    num_layers: Annotated[int, typer.Option(min=1, help="Cross-attention layers.")] = 1,
    val_fraction: Annotated[float, typer.Option(min=0.0, max=0.9, help="Fraction of queries (highest ids) kept for validation.")] = 0.2,
    seed: Annotated[int, typer.Option(help="Seed of initialisation, shuffling and dropout.")] = 0,
    device: Annotated[str, typer.Option(help="cpu, cuda, cuda:1, ...")] = "cpu",
    resume: Annotated[bool, typer.Option(help="Continue the run in --output-dir from its latest checkpoint; the same settings are required (only the epoch counts and --device may change).")] = False,
    overwrite: Annotated[bool, typer.Option(help="Delete the checkpoints, metrics and run.json a previous run left in --output-dir, then start afresh.")] = False,
    verbose: Verbose = False,
) -> None:
    """Train the v3 selector: RCE warm-up, then GRPO when --grpo-epochs > 0.

    The run's settings and input digests go to OUTPUT_DIR/run.json and into every checkpoint; the folder is
    locked while the run writes it."""
    from leverplus.data import DataError, load_embeddings, load_rl_data, write_json_atomic
    from leverplus.rewards import REWARD_MODES
    from leverplus.train import (
        GRPOTrainer,
        TrainerConfig,
        build_datasets,
        build_model,
        latest_checkpoint,
        seed_everything,
    )

    from leverplus.runs import RUN_FILE, OutputLock, RunConflict, claim_output_dir, run_record

    if reward_mode not in REWARD_MODES:
        _fail(f"unknown --reward-mode {reward_mode!r}; choose one of {', '.join(REWARD_MODES)}")
    if resume and overwrite:
        _fail("--resume continues the run in --output-dir and --overwrite discards it: choose one")
    if legacy_correctness not in ("01", "pm1"):
        _fail(f"--legacy-correctness {legacy_correctness!r}: choose 01 or pm1")
    if reward_mode == "legacy" and legacy_alpha == 0.0 and legacy_beta == 0.0:
        _fail("--reward-mode legacy with --legacy-alpha 0 and --legacy-beta 0 makes every reward 0; "
              "set at least one (e.g. --legacy-beta 1)")
    if rce_epochs == 0 and grpo_epochs == 0:
        _fail("--rce-epochs 0 and --grpo-epochs 0: nothing to train (the v3 recipe: --rce-epochs 5)")
    _check_device(device)
    for name, path in (("--rl-data", rl_data), ("--embeddings", embeddings), ("--sft-ckpt", sft_ckpt)):
        if path is not None and path.is_dir():
            _fail(f"{name} {path}: is a directory, not a file")
    config = TrainerConfig(
        rce_epochs=rce_epochs, rce_lr=rce_lr, grpo_epochs=grpo_epochs, grpo_lr=grpo_lr, batch_size=batch_size,
        kl_beta=kl_beta, rce_use_raw_reward=rce_use_raw_reward, freeze_backbone_in_grpo=freeze_backbone_in_grpo,
        skip_fallback_reward=skip_fallback_reward, reward_mode=reward_mode, hard_weight=hard_weight,
        soft_weight=soft_weight, legacy_alpha=legacy_alpha, legacy_beta=legacy_beta,
        legacy_correctness=legacy_correctness, legacy_use_logprob=legacy_use_logprob, val_fraction=val_fraction, seed=seed, device=device, output_dir=str(output_dir),
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
    record = run_record(config, {"rl_data": rl_data, "embeddings": embeddings, "sft_ckpt": sft_ckpt})
    reporter = RichReporter(output_dir / "metrics.jsonl")
    try:
        with OutputLock(output_dir):
            claim_output_dir(output_dir, resume, overwrite)
            trainer = GRPOTrainer(config, model, train_set, val_set, reporter, run=record)
            if resume:
                checkpoint = latest_checkpoint(output_dir)
                if checkpoint is None:
                    _fail(f"--resume: no checkpoint in {output_dir}")
                trainer.resume(checkpoint)
                console.print(f"resuming from {checkpoint}", highlight=False)
            elif sft_ckpt is not None:
                trainer.load_sft_checkpoint(sft_ckpt)
            write_json_atomic(output_dir / RUN_FILE, record)
            with reporter:
                history = trainer.train()
    except RunConflict as exc:
        _fail(str(exc))
    except (RuntimeError, ValueError) as exc:
        _fail(str(exc))
    _summary(history, output_dir)


def _check_device(device: str) -> None:
    """`--device` names a device this torch build has, or one line and exit 2 (not a CUDA traceback)."""
    import torch

    try:
        parsed = torch.device(device)
    except RuntimeError:
        _fail(f"--device {device!r}: not a device (cpu, cuda, cuda:1, mps, ...)")
    if parsed.type == "cuda":
        if not torch.cuda.is_available():
            _fail(f"--device {device}: this torch build ({torch.__version__}) sees no CUDA device; use --device cpu")
        if parsed.index is not None and parsed.index >= torch.cuda.device_count():
            _fail(f"--device {device}: only {torch.cuda.device_count()} CUDA device(s) visible")
    elif parsed.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        _fail(f"--device {device}: MPS is not available here; use --device cpu")


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
    """Exit codes: 0 ok · 2 unusable input (a bad option or file, a refused resume, a full disk, a
    permission) · 3 internal error (one line; the traceback only with -v / --verbose) · 130 interrupted."""
    try:
        app()
    except (KeyboardInterrupt, SystemExit) as exc:
        # typer turns an interrupt inside a command into a silent exit 130; one outside it arrives as is
        if isinstance(exc, SystemExit) and exc.code != 130:
            raise
        console.print("leverplus: interrupted (resume with --resume)")
        sys.exit(130)
    except OSError as exc:  # disk full, permission denied, a missing folder: the user's to fix
        where = f" {exc.filename}" if getattr(exc, "filename", None) else ""
        console.print(f"leverplus: error: cannot use{where}: {exc.strerror or exc}", highlight=False, soft_wrap=True)
        sys.exit(2)
    except Exception as exc:  # noqa: BLE001 - one line, never a traceback, unless asked for
        if "-v" in sys.argv or "--verbose" in sys.argv or os.environ.get("LEVERPLUS_DEBUG"):
            raise
        console.print(f"leverplus: internal error: {type(exc).__name__}: {exc} (run with -v for the traceback)",
                      highlight=False, soft_wrap=True, markup=False)
        sys.exit(3)


if __name__ == "__main__":
    main()
