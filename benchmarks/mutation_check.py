"""Planted bugs: does the test suite notice each plausible one-line regression?

Each entry below is a bug someone could plausibly write (most were seen in the research code or in
earlier versions of this repository). The script applies one bug at a time to a temporary copy of the
working tree, runs the tests that should catch it, and reports caught / survived:

    .venv/bin/python benchmarks/mutation_check.py            # every bug
    .venv/bin/python benchmarks/mutation_check.py --only hybrid --only tau
    .venv/bin/python benchmarks/mutation_check.py --list

A bug whose text no longer occurs in the source is reported as `stale` (the code moved; update the
entry), never counted as caught. Exit code 0 only when every bug is caught. Not collected by pytest.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
LP = "tests/leverplus"


@dataclass(frozen=True)
class Bug:
    name: str
    why: str
    file: str
    old: str
    new: str
    tests: tuple[str, ...]


BUGS = [
    Bug("rl-ignores-sft", "RL generation proposes from cosine similarity although an SFT selector was given",
        "leverplus/rl_data.py",
        "scores = scorer(query_id, pool) if scorer else (embeddings[pool] @ embeddings[query_id]) / 0.1",
        "scores = (embeddings[pool] @ embeddings[query_id]) / 0.1",
        (f"{LP}/test_regressions.py",)),
    Bug("trainer-skips-sft", "train --sft-ckpt starts from random weights",
        "leverplus/cli.py", "            elif sft_ckpt is not None:\n                trainer.load_sft_checkpoint(sft_ckpt)",
        "            elif sft_ckpt is not None:\n                pass", (f"{LP}/test_regressions.py",)),
    Bug("random-from-a-corner", "random pointers drawn from the first positions of the pool only",
        "leverplus/rl_data.py", "rng.sample(range(len(scores)), shot_num)", "rng.sample(range(shot_num + 1), shot_num)",
        (f"{LP}/test_regressions.py",)),
    Bug("eval-fixed-pool", "evaluation picks from the first K items instead of each query's pool",
        "leverplus/evaluate.py", "        pool = candidate_pool(world.embeddings, query_id, pool_size, seed)\n        prediction",
        "        pool = [i for i in range(pool_size + 1) if i != query_id][:pool_size]\n        prediction",
        (f"{LP}/test_regressions.py",)),
    Bug("eval-non-strict-load", "a checkpoint missing tensors evaluates with random ones",
        "leverplus/model.py", '    model.load_state_dict(payload["model"])\n    return model',
        '    model.load_state_dict(payload["model"], strict=False)\n    return model', (f"{LP}/test_regressions.py",)),
    Bug("grpo-zscored-advantages", "GRPO advantages from the z-scored rewards instead of the raw ones",
        "leverplus/model.py", "objectives.group_advantages(batch.beam_rewards_raw, keep)",
        "objectives.group_advantages(batch.beam_rewards, keep)", (f"{LP}/test_regressions.py",)),
    Bug("tau-restarts", "the RCE temperature schedule restarts every epoch",
        "leverplus/train.py", "objectives.rce_temperature(epoch * steps + index, total_steps,",
        "objectives.rce_temperature(index, steps,", (f"{LP}/test_regressions.py",)),
    Bug("no-label-smoothing", "label smoothing dropped from the RCE loss",
        "leverplus/model.py", "_, ce = self._sequence_terms(batch, batch.beam_labels, self.config.label_smoothing)",
        "_, ce = self._sequence_terms(batch, batch.beam_labels, 0.0)", (f"{LP}/test_regressions.py",)),
    Bug("reference-not-frozen", "the GRPO reference policy follows the model instead of staying at the post-RCE weights",
        "leverplus/train.py", "reference.load_state_dict(self._reference_state or self.model.state_dict())",
        "reference.load_state_dict(self.model.state_dict())", (f"{LP}/test_trainer.py",)),
    Bug("beta-never-adapts", "the KL coefficient stays at its initial value",
        "leverplus/train.py", 'self.state.kl_beta = objectives.adaptive_kl_beta(result["kl"].item(), self.state.kl_beta)',
        "pass", (f"{LP}/test_regressions.py",)),
    Bug("no-top-k-curriculum", "GRPO uses the late top-k from the first epoch",
        "leverplus/train.py", "top_k = config.grpo_early_top_k if epoch < config.grpo_early_epochs else config.grpo_late_top_k",
        "top_k = config.grpo_late_top_k", (f"{LP}/test_regressions.py",)),
    Bug("validate-on-train", "validation runs on the training queries",
        "leverplus/train.py", "val_set = RLBeamDatasetWithEmbedding(rl_data, embeddings, query_ids[cut:],",
        "val_set = RLBeamDatasetWithEmbedding(rl_data, embeddings, query_ids[:cut],", (f"{LP}/test_regressions.py",)),
    Bug("normalize-flag-ignored", "the dataset's normalize_rewards flag is ignored",
        "leverplus/dataset.py", "zscore(raw, beam_mask) if self.normalize_rewards else raw.clone()",
        "zscore(raw, beam_mask)", (f"{LP}/test_regressions.py",)),
    Bug("sft-guard-off", "an SFT checkpoint that loads nothing is accepted",
        "leverplus/model.py", "missing, unexpected = model.load_state_dict(state_dict, strict=False)",
        "missing, unexpected = model.load_state_dict(state_dict, strict=False); max_missing_fraction = 1.0",
        (f"{LP}/test_model.py",)),
    Bug("unfilled-prompt", "the prompt template's placeholders are not filled",
        "leverplus/backends.py", "config.template.format(question=d.question, answer=d.answer or \"\")",
        "config.template", (f"{LP}/test_hf_backend.py",)),
    Bug("query-in-own-pool", "the query can be one of its own demonstrations",
        "leverplus/rl_data.py", '    similarity[query_id] = float("-inf")\n', "", (f"{LP}/test_pipeline.py",)),
    Bug("labels-mod-k", "SFT labels are global ids mod K instead of pool positions",
        "leverplus/sft.py", "[[position[item] for item in demonstrations]]",
        "[[item % len(pool) for item in demonstrations]]", (f"{LP}/test_pipeline.py",)),
    Bug("uniform-rce-weights", "RCE weighs every candidate the same",
        "leverplus/objectives.py", "    return torch.softmax(scaled, dim=-1).masked_fill(~beam_mask, 0.0)",
        "    return torch.softmax(scaled * 0.0, dim=-1).masked_fill(~beam_mask, 0.0)",
        (f"{LP}/test_rewards_and_objectives.py",)),
    Bug("no-ppo-clip", "PPO clipping removed",
        "leverplus/objectives.py", "clipped = ratio.clamp(1.0 - clip_epsilon, 1.0 + clip_epsilon) * advantages",
        "clipped = ratio * advantages", (f"{LP}/test_rewards_and_objectives.py",)),
    Bug("empty-answer-scores", "an empty prediction matches every reference in the fallback",
        "leverplus/metrics.py", "    if not prediction or not references:\n        return 0.0",
        "    if not references:\n        return 0.0", (f"{LP}/test_metrics.py",)),
    # -- this repository's own guarantees -------------------------------------------------------------
    Bug("hybrid-beam-score", "hybrid reads the beam probability where InfoScore belongs (the research code's bug)",
        "leverplus/rewards.py", "info = min(max((x.info_score + 0.1) / 0.2, 0.0), 1.0)",
        "info = min(max(((x.beam_score or 0.0) + 0.1) / 0.2, 0.0), 1.0)", (f"{LP}/test_rewards_and_objectives.py",)),
    Bug("grpo-weights-by-count", "batched GRPO weighs each query by its candidate count",
        "leverplus/objectives.py", "    loss = -per_query_mean(torch.minimum(unclipped, clipped), mask)",
        "    loss = -(torch.minimum(unclipped, clipped) * mask).sum() / mask.sum().clamp(min=1)",
        (f"{LP}/test_rewards_and_objectives.py",)),
    Bug("resume-ignores-settings", "--resume continues with other hyper-parameters or data",
        "leverplus/train.py", '            refuse_differences(payload["run"], self.run, str(Path(path).parent))',
        "            pass", (f"{LP}/test_cli.py",)),
    Bug("metrics-duplicated-on-resume", "metrics.jsonl keeps the steps a killed run recorded after its checkpoint",
        "leverplus/train.py", "        trim_metrics(self.output_dir / METRICS_FILE,", "        (lambda *a: None)(self.output_dir / METRICS_FILE,",
        (f"{LP}/test_trainer.py::test_killed_run_resumes_bit_for_bit",)),
    Bug("merge-accepts-missing-shards", "merge-rl-data accepts 2 of 3 shards",
        "leverplus/rl_data.py", "    missing = sorted(set(range(count)) - set(seen))", "    missing = []",
        (f"{LP}/test_pipeline.py",)),
    Bug("partial-cut-line-kept", "a JSONL line cut by a kill is appended to",
        "leverplus/rl_data.py", "    if good_end < len(data):", "    if False:", (f"{LP}/test_pipeline.py",)),
    Bug("fix-writes-unbound-names", "leveraudit fix inserts a name its function does not bind",
        "leveraudit/fix.py", "    free = [name for name in _free_names(text) if name not in also]", "    free = []",
        ("tests/test_fix.py",)),
    Bug("fix-not-atomic", "leveraudit fix writes files in place",
        "leveraudit/atomic.py", "        os.replace(temp, path)", "        os.replace(temp, path) if False else (shutil.copyfile(temp, path), os.unlink(temp))",
        ("tests/test_fix.py",)),
]


def _copy_tree(target: Path) -> None:
    ignore = shutil.ignore_patterns(".git", ".venv", "__pycache__", "*.pyc", "runs", ".pytest_cache", "example-data")
    shutil.copytree(REPO, target, ignore=ignore, symlinks=True)


def run_bug(bug: Bug, python: str) -> tuple[str, float, str]:
    with tempfile.TemporaryDirectory(prefix="leverplus-mutant-") as scratch:
        copy = Path(scratch) / "repo"
        _copy_tree(copy)
        path = copy / bug.file
        text = path.read_text(encoding="utf-8")
        if text.count(bug.old) != 1:
            return "stale", 0.0, f"the bug's text occurs {text.count(bug.old)} times in {bug.file}"
        mutated = text.replace(bug.old, bug.new)
        if bug.file == "leveraudit/atomic.py" and "import shutil" not in mutated:
            mutated = mutated.replace("import os\n", "import os\nimport shutil\n", 1)
        path.write_text(mutated, encoding="utf-8")
        env = {**os.environ, "PYTHONPATH": str(copy), "PYTHONDONTWRITEBYTECODE": "1"}
        started = time.perf_counter()
        done = subprocess.run([python, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider", *bug.tests],
                              cwd=copy, env=env, capture_output=True, text=True, timeout=900)
        elapsed = time.perf_counter() - started
        if done.returncode == 0:
            return "survived", elapsed, ""
        if done.returncode in (1,):
            failed = [line for line in done.stdout.splitlines() if line.startswith("FAILED")]
            return "caught", elapsed, failed[0][7:] if failed else ""
        return "error", elapsed, done.stdout[-400:] + done.stderr[-400:]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", action="append", default=[], help="run the bugs whose name contains this")
    parser.add_argument("--list", action="store_true", help="list the bugs and exit")
    args = parser.parse_args()
    chosen = [b for b in BUGS if not args.only or any(part in b.name for part in args.only)]
    if args.list:
        for bug in chosen:
            print(f"{bug.name:32} {bug.why}")
        return 0
    python = sys.executable
    results = []
    for bug in chosen:
        status, elapsed, detail = run_bug(bug, python)
        results.append((bug, status))
        print(f"{status:9} {bug.name:32} {elapsed:6.1f} s  {detail[:110]}", flush=True)
    caught = sum(status == "caught" for _, status in results)
    print(f"\n{caught}/{len(results)} planted bugs caught"
          + "".join(f"\n  {status}: {bug.name} — {bug.why}" for bug, status in results if status != "caught"))
    return 0 if caught == len(results) else 1


if __name__ == "__main__":
    sys.exit(main())
