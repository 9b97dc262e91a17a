"""`leverplus` commands in-process (typer's runner): example data -> train -> resume; clear errors."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from leverplus.cli import app

runner = CliRunner()


def test_example_data_then_train_then_resume(tmp_path):
    data_dir, run_dir = tmp_path / "data", tmp_path / "run"
    made = runner.invoke(app, ["make-example-data", "--output-dir", str(data_dir), "--num-items", "120",
                               "--num-queries", "40", "--pool-size", "12"])
    assert made.exit_code == 0, made.output
    assert "official VQA metric (file)" in made.output and "fallback string match" in made.output
    args = ["train", "--rl-data", str(data_dir / "rl_data.json"), "--embeddings", str(data_dir / "embeddings.pt"),
            "--output-dir", str(run_dir), "--rce-epochs", "2", "--batch-size", "8"]
    trained = runner.invoke(app, args + ["--skip-fallback-reward"])
    assert trained.exit_code == 0, trained.output
    assert "RCE-only run" in trained.output and "training summary" in trained.output
    assert "skip_fallback_reward: dropped" in trained.output
    assert sorted(p.name for p in run_dir.glob("*.pt")) == ["rce_epoch1.pt", "rce_epoch2.pt"]
    lines = [json.loads(line) for line in (run_dir / "metrics.jsonl").read_text().splitlines()]
    assert {l.get("event") for l in lines} == {None, "epoch"} and any("temperature" in l for l in lines)
    resumed = runner.invoke(app, args + ["--skip-fallback-reward", "--grpo-epochs", "1", "--resume"])
    assert resumed.exit_code == 0, resumed.output
    assert "resuming from" in resumed.output and (run_dir / "grpo_epoch1.pt").exists()


def test_bad_inputs_exit_2_with_the_query_and_key(tmp_path):
    bad = tmp_path / "rl.json"
    bad.write_text(json.dumps({"5": {"candidate_pool": [1, 2], "pointer_candidates": [{"pointer": [1, 2]}]}}))
    result = runner.invoke(app, ["train", "--rl-data", str(bad), "--embeddings", str(tmp_path / "e.pt")])
    assert result.exit_code == 2
    assert "query 5: pointer_candidates[0].gen_method: Field required" in result.output
    unknown = runner.invoke(app, ["train", "--rl-data", str(bad), "--embeddings", "x", "--reward-mode", "nope"])
    assert unknown.exit_code == 2 and "unknown --reward-mode" in unknown.output
