"""`GRPOTrainer`: RCE warm-up, then (optionally) GRPO, over batches of many queries.

Read top to bottom: config -> datasets -> trainer (train loop, one RCE epoch, one GRPO epoch,
validation) -> checkpoints (atomic, resumable). Every formula lives in `objectives.py`.
"""

from __future__ import annotations

import copy
import json
import random
from dataclasses import asdict, dataclass, field
from pathlib import Path

import torch
from torch.utils.data import DataLoader

from leverplus import objectives
from leverplus.data import RLData, atomic_write
from leverplus.dataset import RLBatch, RLBeamDatasetWithEmbedding, RLCollate
from leverplus.model import CHECKPOINT_FORMAT, PointerSelector, SelectorConfig, load_sft_weights
from leverplus.rewards import RewardWeights
from leverplus.runs import METRICS_FILE, refuse_differences, trim_metrics

PHASES = ("rce", "grpo")


@dataclass
class TrainerConfig:
    # the v3 recipe: RCE-only by default (plan 3.1); GRPO, when used, is a small step (3.5.1)
    rce_epochs: int = 5
    rce_lr: float = 1e-4
    grpo_epochs: int = 0
    grpo_lr: float = 1e-5
    batch_size: int = 32
    kl_beta: float = 0.1
    clip_epsilon: float = 0.2
    rce_temp_start: float = 2.0
    rce_temp_end: float = 0.5
    rce_use_raw_reward: bool = False  # 3.4: RCE on beam_rewards_raw instead of the z-scored beam_rewards
    freeze_backbone_in_grpo: bool = False  # 3.5.2: GRPO trains the pointer head only
    skip_fallback_reward: bool = False  # 3.3.2/3.3.3: drop candidates scored by the fallback match
    require_positive_query: bool = False
    reward_mode: str = "hard_plus_soft"
    hard_weight: float = 1.0
    soft_weight: float = 1.0
    legacy_alpha: float = 0.0  # reward_mode legacy: weight of the quality term (beam_score or -logprob_score)
    legacy_beta: float = 0.0  # reward_mode legacy: weight of the correctness term
    legacy_correctness: str = "01"  # reward_mode legacy: "01" (h) or "pm1" (2h - 1)
    legacy_use_logprob: bool = False  # reward_mode legacy: quality from -logprob_score
    grpo_early_epochs: int = 1
    grpo_early_top_k: int = 3
    grpo_late_top_k: int = 5
    gradient_clip: float = 1.0
    weight_decay: float = 0.01
    val_fraction: float = 0.2
    seed: int = 0
    device: str = "cpu"
    output_dir: str = "runs/v3"
    max_missing_fraction: float = 0.0
    hidden_dim: int = 256
    num_layers: int = 1
    dropout: float = 0.1
    label_smoothing: float = 0.1


def seed_everything(seed: int) -> None:
    random.seed(seed)
    torch.manual_seed(seed)


def build_datasets(config: TrainerConfig, rl_data: RLData, embeddings: torch.Tensor):
    """Split queries (sorted ids; the last `val_fraction` validate) and build both datasets alike."""
    query_ids = sorted(rl_data.queries)
    cut = max(1, int(round(len(query_ids) * (1.0 - config.val_fraction)))) if len(query_ids) > 1 else 1
    weights = RewardWeights(hard_weight=config.hard_weight, soft_weight=config.soft_weight,
                            alpha=config.legacy_alpha, beta=config.legacy_beta,
                            correctness_mode=config.legacy_correctness, use_logprob=config.legacy_use_logprob)
    common = {"reward_mode": config.reward_mode, "reward_weights": weights,
              "require_positive_query": config.require_positive_query}
    train_set = RLBeamDatasetWithEmbedding(rl_data, embeddings, query_ids[:cut],
                                           skip_fallback_reward=config.skip_fallback_reward, **common)
    val_set = RLBeamDatasetWithEmbedding(rl_data, embeddings, query_ids[cut:],
                                         skip_fallback_reward=config.skip_fallback_reward, **common)
    return train_set, val_set


def build_model(config: TrainerConfig, embeddings: torch.Tensor, shot_num: int) -> PointerSelector:
    return PointerSelector(SelectorConfig(d_model=embeddings.shape[1], hidden_dim=config.hidden_dim,
                                          num_layers=config.num_layers, dropout=config.dropout,
                                          label_smoothing=config.label_smoothing, shot_num=shot_num))


class Reporter:
    """Where progress goes; the CLI swaps in rich progress bars. Metrics always go to JSONL."""

    def __init__(self, metrics_path: Path | None = None) -> None:
        self.metrics_path = metrics_path

    def log(self, message: str) -> None:
        pass

    def phase_started(self, phase: str, epochs: int, steps_per_epoch: int, start_epoch: int) -> None:
        pass

    def record(self, entry: dict) -> None:
        if self.metrics_path is not None:
            with open(self.metrics_path, "a", encoding="utf-8") as stream:
                stream.write(json.dumps(entry) + "\n")


@dataclass
class TrainingState:
    phase: str = "rce"
    epochs_done: int = 0  # in `phase`
    global_step: int = 0
    kl_beta: float = 0.1
    history: list[dict] = field(default_factory=list)


class GRPOTrainer:
    def __init__(self, config: TrainerConfig, model: PointerSelector, train_set: RLBeamDatasetWithEmbedding,
                 val_set: RLBeamDatasetWithEmbedding, reporter: Reporter | None = None,
                 run: dict | None = None) -> None:
        """`run`: the run record (`runs.run_record`) stored in every checkpoint and compared on resume."""
        if len(train_set) == 0:
            raise ValueError("no training query left (check skip_fallback_reward / require_positive_query)")
        self.config = config
        self.device = torch.device(config.device)
        self.model = model.to(self.device)
        self.train_set, self.val_set = train_set, val_set
        self.collate = RLCollate(train_set.embeddings)
        self.output_dir = Path(config.output_dir)
        self.output_dir.mkdir(parents=True, exist_ok=True)
        self.reporter = reporter or Reporter(self.output_dir / METRICS_FILE)
        self.run = run
        self.state = TrainingState(kl_beta=config.kl_beta)
        self._resume_optimizer: dict | None = None
        self._reference_state: dict | None = None

    # -- data ----------------------------------------------------------------------------------
    def _loader(self, phase: str, epoch: int) -> DataLoader:
        """Shuffled by a generator seeded per (seed, phase, epoch), so a resumed epoch sees the same order."""
        generator = torch.Generator().manual_seed(self.config.seed * 1000 + PHASES.index(phase) * 100 + epoch)
        return DataLoader(self.train_set, batch_size=self.config.batch_size, shuffle=True, generator=generator,
                          collate_fn=self.collate)

    def _ordered_loader(self, dataset) -> DataLoader:
        # its own generator: a DataLoader without one draws its base seed from the global RNG, which
        # would make dropout depend on how often validation ran (and break bit-exact resume)
        return DataLoader(dataset, batch_size=self.config.batch_size, shuffle=False, collate_fn=self.collate,
                          generator=torch.Generator().manual_seed(0))

    def _steps_per_epoch(self) -> int:
        return -(-len(self.train_set) // self.config.batch_size)

    # -- the loop ------------------------------------------------------------------------------
    def train(self) -> list[dict]:
        config, state = self.config, self.state
        if state.phase == "rce" and state.epochs_done < config.rce_epochs:
            optimizer = torch.optim.AdamW(self.model.parameters(), lr=config.rce_lr, weight_decay=config.weight_decay)
            self._restore_optimizer(optimizer, "rce")
            self.reporter.phase_started("rce", config.rce_epochs, self._steps_per_epoch(), state.epochs_done)
            for epoch in range(state.epochs_done, config.rce_epochs):
                metrics = self._rce_epoch(epoch, optimizer)
                metrics.update(self.validate())
                self._end_epoch("rce", epoch, metrics, optimizer)

        # 3.1: RCE-only is the v3 default; GRPO runs only when asked for
        if self.config.grpo_epochs <= 0:
            self.reporter.log("grpo_epochs <= 0: RCE-only run (the v3 default); the last RCE checkpoint is final")
            return state.history

        if state.phase == "rce":  # entering GRPO: the reference policy is the model as it stands after RCE
            self._reference_state = {k: v.detach().clone() for k, v in self.model.state_dict().items()}
            state.phase, state.epochs_done = "grpo", 0
        if self.config.freeze_backbone_in_grpo:
            for parameter in self.model.backbone_parameters():
                parameter.requires_grad_(False)
        trainable = [p for p in self.model.parameters() if p.requires_grad]
        self.reporter.log(f"GRPO trains {sum(p.numel() for p in trainable):,} of "
                          f"{sum(p.numel() for p in self.model.parameters()):,} parameters")
        optimizer = torch.optim.AdamW(trainable, lr=config.grpo_lr, weight_decay=config.weight_decay)
        self._restore_optimizer(optimizer, "grpo")
        reference = self._reference_log_probs()
        self.reporter.phase_started("grpo", config.grpo_epochs, self._steps_per_epoch(), state.epochs_done)
        for epoch in range(state.epochs_done, self.config.grpo_epochs):
            metrics = self._grpo_epoch(epoch, optimizer, reference)
            metrics.update(self.validate())
            self._end_epoch("grpo", epoch, metrics, optimizer)
        return state.history

    def _step(self, loss: torch.Tensor, optimizer, parameters) -> None:
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(parameters, self.config.gradient_clip)
        optimizer.step()
        self.state.global_step += 1

    def _rce_epoch(self, epoch: int, optimizer) -> dict:
        self.model.train()
        steps = self._steps_per_epoch()
        total_steps = self.config.rce_epochs * steps
        losses = []
        for index, batch in enumerate(self._loader("rce", epoch)):
            batch = batch.to(self.device)
            temperature = objectives.rce_temperature(epoch * steps + index, total_steps,
                                                     self.config.rce_temp_start, self.config.rce_temp_end)
            # 3.4: raw rewards or the per-query z-scored ones
            rewards = batch.beam_rewards_raw if self.config.rce_use_raw_reward else batch.beam_rewards
            loss = self.model.rce_loss(batch, rewards, temperature)
            self._step(loss, optimizer, self.model.parameters())
            losses.append(loss.item())
            self.reporter.record({"phase": "rce", "epoch": epoch + 1, "step": self.state.global_step,
                                  "loss": loss.item(), "temperature": temperature})
        return {"train_loss": sum(losses) / len(losses), "temperature": temperature}

    def _grpo_epoch(self, epoch: int, optimizer, reference: dict[int, torch.Tensor]) -> dict:
        self.model.train()
        config = self.config
        top_k = config.grpo_early_top_k if epoch < config.grpo_early_epochs else config.grpo_late_top_k
        sums: dict[str, float] = {}
        count = 0
        for batch in self._loader("grpo", epoch):
            batch = batch.to(self.device)
            old = self._stack_reference(reference, batch)
            result = self.model.grpo_loss(batch, old, top_k, self.state.kl_beta, config.clip_epsilon)
            self._step(result["loss"], optimizer, [p for p in self.model.parameters() if p.requires_grad])
            self.state.kl_beta = objectives.adaptive_kl_beta(result["kl"].item(), self.state.kl_beta)
            values = {k: v.item() for k, v in result.items()}
            for key, value in values.items():
                sums[key] = sums.get(key, 0.0) + value
            count += 1
            self.reporter.record({"phase": "grpo", "epoch": epoch + 1, "step": self.state.global_step,
                                  "kl_beta": self.state.kl_beta, "top_k": top_k, **values})
        return {("train_loss" if k == "loss" else k): v / count for k, v in sums.items()} | {"kl_beta": self.state.kl_beta}

    # -- GRPO reference policy -------------------------------------------------------------------
    def _reference_log_probs(self) -> dict[int, torch.Tensor]:
        """log π_ref(sequence) for every training query, from the post-RCE weights, dropout off."""
        reference = copy.deepcopy(self.model)  # a copy, not a new model: no RNG is consumed
        reference.load_state_dict(self._reference_state or self.model.state_dict())
        reference.eval()
        table: dict[int, torch.Tensor] = {}
        loader = self._ordered_loader(self.train_set)
        with torch.no_grad():
            for batch in loader:
                batch = batch.to(self.device)
                log_probs = reference.sequence_log_probs(batch)
                for row, query_id in enumerate(batch.query_ids):
                    table[query_id] = log_probs[row, : int(batch.beam_mask[row].sum())].cpu()
        return table

    def _stack_reference(self, reference: dict[int, torch.Tensor], batch: RLBatch) -> torch.Tensor:
        old = torch.zeros_like(batch.beam_rewards_raw)
        for row, query_id in enumerate(batch.query_ids):
            values = reference[query_id]
            old[row, : len(values)] = values.to(old.device)
        return old

    # -- validation ------------------------------------------------------------------------------
    @torch.no_grad()
    def validate(self) -> dict:
        """RCE loss on raw rewards at τ=1, and the reward of the candidate the model ranks first."""
        if len(self.val_set) == 0:
            return {}
        self.model.eval()
        loss_sum, picked_sum, best_sum, queries = 0.0, 0.0, 0.0, 0
        loader = self._ordered_loader(self.val_set)
        for batch in loader:
            batch = batch.to(self.device)
            loss_sum += self.model.rce_loss(batch, batch.beam_rewards_raw, 1.0).item() * len(batch)
            log_probs = self.model.sequence_log_probs(batch).masked_fill(~batch.beam_mask, float("-inf"))
            first = log_probs.argmax(-1, keepdim=True)
            picked_sum += batch.beam_rewards_raw.gather(-1, first).sum().item()
            best_sum += batch.beam_rewards_raw.masked_fill(~batch.beam_mask, float("-inf")).max(-1).values.sum().item()
            queries += len(batch)
        self.model.train()
        return {"val_loss": loss_sum / queries, "val_picked_reward": picked_sum / queries,
                "val_best_reward": best_sum / queries}

    # -- checkpoints -----------------------------------------------------------------------------
    def _end_epoch(self, phase: str, epoch: int, metrics: dict, optimizer) -> None:
        self.state.phase, self.state.epochs_done = phase, epoch + 1
        entry = {"phase": phase, "epoch": epoch + 1, **metrics}
        self.state.history.append(entry)
        self.reporter.record({"event": "epoch", **entry})
        self.save_checkpoint(self.output_dir / f"{phase}_epoch{epoch + 1}.pt", optimizer, metrics)

    def save_checkpoint(self, path: Path, optimizer, metrics: dict) -> None:
        payload = {
            "format": CHECKPOINT_FORMAT,
            "selector_config": self.model.config.to_dict(),
            "trainer_config": asdict(self.config),
            "model": self.model.state_dict(),
            "optimizer": optimizer.state_dict(),
            "scheduler": {"global_step": self.state.global_step, "kind": "rce_temperature_linear"},
            "phase": self.state.phase,
            "epochs_done": self.state.epochs_done,
            "kl_beta": self.state.kl_beta,
            "history": self.state.history,
            "rng": _rng_state(),
            "reference_model": self._reference_state,
            "metrics": metrics,
            "run": self.run,
        }
        atomic_torch_save(payload, path)

    def resume(self, path: str | Path) -> None:
        """Continue an interrupted run from its last checkpoint: model, optimizer, schedule, RNG state.
        Refuses (`RunConflict`) when this trainer's run record differs from the checkpoint's outside the
        fields allowed to change; drops what `metrics.jsonl` recorded after the checkpoint."""
        payload = load_checkpoint(path, map_location=self.device)
        if payload.get("format") != CHECKPOINT_FORMAT:
            raise ValueError(f"{path}: not a leverplus checkpoint")
        if self.run is not None and payload.get("run") is not None:
            refuse_differences(payload["run"], self.run, str(Path(path).parent))
        self.model.load_state_dict(payload["model"])
        self._resume_optimizer = {"phase": payload["phase"], "state": payload["optimizer"]}
        self.state = TrainingState(phase=payload["phase"], epochs_done=payload["epochs_done"],
                                   global_step=payload["scheduler"]["global_step"], kl_beta=payload["kl_beta"],
                                   history=list(payload["history"]))
        self._reference_state = payload.get("reference_model")
        _set_rng_state(payload["rng"])
        trim_metrics(self.output_dir / METRICS_FILE, self.state.global_step,
                     {(entry["phase"], entry["epoch"]) for entry in self.state.history})
        if self.state.phase == "rce" and self.state.epochs_done >= self.config.rce_epochs and self.config.grpo_epochs > 0:
            self._resume_optimizer = None  # GRPO starts with a fresh optimizer, as in an uninterrupted run

    def _restore_optimizer(self, optimizer, phase: str) -> None:
        if self._resume_optimizer and self._resume_optimizer["phase"] == phase:
            optimizer.load_state_dict(self._resume_optimizer["state"])
        self._resume_optimizer = None

    def load_sft_checkpoint(self, path: str | Path) -> None:
        """Start from SFT weights; raises when the checkpoint leaves parameters unloaded."""
        payload = load_checkpoint(path, map_location=self.device)
        state_dict = payload.get("model", payload)
        load_sft_weights(self.model, state_dict, self.config.max_missing_fraction, log=self.reporter.log)


def _rng_state() -> dict:
    """Every generator a step draws from: torch's CPU one, Python's, and each CUDA device's."""
    state = {"torch": torch.get_rng_state(), "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict) -> None:
    torch.set_rng_state(state["torch"])
    random.setstate(_as_python_state(state["python"]))
    if state.get("cuda") is not None and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _as_python_state(state):
    # through `weights_only` loading the tuple of Python's Mersenne state comes back as given, but a
    # list (after JSON, say) must be a tuple again for `random.setstate`
    version, internal, gauss = state
    return (version, tuple(internal), gauss)


def load_checkpoint(path: str | Path, map_location="cpu") -> dict:
    """A leverplus checkpoint, loaded with `weights_only=True`: tensors, numbers, strings and
    containers only, so a crafted file cannot run code. Anything else is refused in one line."""
    try:
        payload = torch.load(path, map_location=map_location, weights_only=True)
    except FileNotFoundError:
        raise ValueError(f"{path}: no such checkpoint") from None
    except IsADirectoryError:
        raise ValueError(f"{path}: is a directory, not a checkpoint") from None
    except Exception as exc:  # noqa: BLE001 - UnpicklingError, a zip error, a truncated file: all one line
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ValueError(f"{path}: not a loadable checkpoint (only weights are accepted, nothing that runs code): "
                         f"{first[:200]}") from None
    if not isinstance(payload, dict):
        raise ValueError(f"{path}: not a checkpoint (expected a dict, found {type(payload).__name__})")
    return payload


def latest_checkpoint(output_dir: str | Path) -> Path | None:
    """The checkpoint with the most progress (GRPO after RCE, then the epoch number)."""
    found = []
    for path in Path(output_dir).glob("*_epoch*.pt"):
        phase, _, number = path.stem.partition("_epoch")
        if phase in PHASES and number.isdigit():
            found.append((PHASES.index(phase), int(number), path))
    return max(found)[2] if found else None


def atomic_torch_save(payload, path: Path) -> None:
    atomic_write(path, lambda stream: torch.save(payload, stream), binary=True)
