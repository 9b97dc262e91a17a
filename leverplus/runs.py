"""What a run was made of, and who owns its output folder: so that a resume, a second run into the same
folder, or a resumed RL generation can never silently mix two configurations.

* `run_record` — the hyper-parameters and the digests of the inputs (RL data, embeddings, SFT
  checkpoint). `train` writes it to `<output-dir>/run.json` and into every checkpoint; `--resume`
  compares it with the new command line and refuses any difference outside `RESUMABLE`.
* `OutputLock` — an exclusive `flock` on `<output-dir>/.lock` while a run writes there (released by the
  kernel even when the process is killed).
* `claim_output_dir` — a folder that already holds a run needs `--resume` (continue it) or
  `--overwrite` (delete its checkpoints, metrics and record first).
* `trim_metrics` — after a resume, `metrics.jsonl` keeps only what the checkpoint had seen, so no step
  is recorded twice and a line cut by a kill is dropped.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict
from pathlib import Path

RUN_FORMAT = "leverplus.run/1"
RUN_FILE = "run.json"
METRICS_FILE = "metrics.jsonl"
LOCK_FILE = ".lock"
# may differ between a run and its resume: more epochs extend the recipe ("train, then train again with
# --grpo-epochs 2 --resume"), and the device does not change what is computed
RESUMABLE = ("rce_epochs", "grpo_epochs", "device")


class RunConflict(ValueError):
    """The request would mix two runs (or two writers) in one place; the message says what differs."""


def file_digest(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def run_record(config, inputs: dict[str, Path | None]) -> dict:
    """`config`: a `TrainerConfig`; `inputs`: name -> file (None: not used by this run)."""
    hyperparameters = {k: v for k, v in asdict(config).items() if k != "output_dir"}
    return {"format": RUN_FORMAT, "hyperparameters": hyperparameters,
            "inputs": {name: None if path is None else {"path": str(path), "sha256": file_digest(path)}
                       for name, path in sorted(inputs.items())}}


def _short(value) -> str:
    if isinstance(value, dict) and "sha256" in value:
        return f"{value['path']} (sha256 {value['sha256'][:12]})"
    return "none" if value is None else repr(value)


def differences(recorded: dict, current: dict, allowed: tuple[str, ...] = RESUMABLE) -> list[str]:
    """`field: recorded -> current` for every hyper-parameter outside `allowed` and every input whose
    content differs (a moved file with the same bytes is the same input). An input the new command does
    not name (None: e.g. the SFT checkpoint, read only when a run starts) is not compared."""
    found = []
    old_h, new_h = recorded.get("hyperparameters", {}), current.get("hyperparameters", {})
    for key in sorted(set(old_h) | set(new_h)):
        if key not in allowed and old_h.get(key) != new_h.get(key):
            found.append(f"{key}: {_short(old_h.get(key))} -> {_short(new_h.get(key))}")
    old_i, new_i = recorded.get("inputs", {}), current.get("inputs", {})
    for key in sorted(set(old_i) | set(new_i)):
        new = new_i.get(key)
        if new is None:
            continue
        old = old_i.get(key)
        if old is None or old.get("sha256") != new.get("sha256"):
            found.append(f"{key}: {_short(old)} -> {_short(new)}")
    return found


def refuse_differences(recorded: dict, current: dict, where: str) -> None:
    found = differences(recorded, current)
    if found:
        raise RunConflict(f"--resume: {where} was trained with other settings: {'; '.join(found)} "
                          f"(only {', '.join(RESUMABLE)} may change on resume; start a new --output-dir "
                          f"or pass --overwrite to discard the old run)")


class OutputLock:
    """Exclusive ownership of an output folder for the life of a run."""

    def __init__(self, directory: Path) -> None:
        self.path = Path(directory) / LOCK_FILE
        self._handle: int | None = None

    def __enter__(self) -> "OutputLock":
        import fcntl

        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            owner = os.read(handle, 64).decode("ascii", "replace").strip() or "unknown"
            os.close(handle)
            raise RunConflict(f"{self.path.parent} is being written by another run (pid {owner}); "
                              f"wait for it or use another --output-dir") from None
        os.ftruncate(handle, 0)
        os.write(handle, str(os.getpid()).encode("ascii"))
        self._handle = handle
        return self

    def __exit__(self, *exc) -> None:
        if self._handle is not None:
            os.close(self._handle)  # closing releases the lock; the file stays (removing it would race)
            self._handle = None


def run_artifacts(directory: Path) -> list[Path]:
    directory = Path(directory)
    if not directory.is_dir():
        return []
    found = sorted(directory.glob("*_epoch*.pt")) + [directory / name for name in (METRICS_FILE, RUN_FILE)]
    return [path for path in found if path.exists()]


def claim_output_dir(directory: Path, resume: bool, overwrite: bool) -> None:
    """Refuse to start a new run over an old one unless asked to replace it."""
    artifacts = run_artifacts(directory)
    if resume or not artifacts:
        return
    if not overwrite:
        names = ", ".join(path.name for path in artifacts[:4]) + (", ..." if len(artifacts) > 4 else "")
        raise RunConflict(f"{directory} already holds a run ({names}); pass --resume to continue it, "
                          f"--overwrite to replace it, or choose another --output-dir")
    for path in artifacts:
        path.unlink()


def trim_metrics(path: Path, global_step: int, epochs: set[tuple[str, int]]) -> int:
    """Keep the step records up to `global_step` and the epoch records of `epochs` (those the checkpoint
    saw); drop the rest and any line a kill cut. Returns how many lines were dropped."""
    from leverplus.data import atomic_write

    path = Path(path)
    if not path.exists():
        return 0
    kept, dropped = [], 0
    data = path.read_bytes()
    for line in data.split(b"\n"):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except ValueError:
            dropped += 1
            continue
        if entry.get("event") == "epoch":
            keep = (entry.get("phase"), entry.get("epoch")) in epochs
        else:
            keep = isinstance(entry.get("step"), int) and entry["step"] <= global_step
        if keep:
            kept.append(line.decode("utf-8"))
        else:
            dropped += 1
    if dropped or (data and not data.endswith(b"\n")):
        atomic_write(path, lambda stream: stream.write("".join(f"{line}\n" for line in kept)))
    return dropped
