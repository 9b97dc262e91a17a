"""`leverplus` commands in-process (typer's runner): example data -> train -> resume; clear errors."""

from __future__ import annotations

import json

import pytest

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


# -- no silent mixing: run records, resume refusals, overwrite, the lock ----------------------------------
def _example(tmp_path):
    data_dir = tmp_path / "data"
    made = runner.invoke(app, ["make-example-data", "--output-dir", str(data_dir), "--num-items", "80",
                               "--num-queries", "24", "--pool-size", "8"])
    assert made.exit_code == 0, made.output
    return data_dir, ["train", "--rl-data", str(data_dir / "rl_data.json"), "--embeddings",
                      str(data_dir / "embeddings.pt"), "--output-dir", str(tmp_path / "run"), "--rce-epochs", "1",
                      "--batch-size", "8"]


def _one_line_error(result) -> str:
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output
    return " ".join(result.output.split())


def test_a_run_records_its_settings_and_a_second_run_into_its_folder_is_refused(tmp_path):
    data_dir, args = _example(tmp_path)
    assert runner.invoke(app, args).exit_code == 0
    record = json.loads((tmp_path / "run" / "run.json").read_text())
    assert record["hyperparameters"]["rce_lr"] == 1e-4 and record["hyperparameters"]["seed"] == 0
    assert len(record["inputs"]["rl_data"]["sha256"]) == 64 and record["inputs"]["sft_ckpt"] is None
    again = _one_line_error(runner.invoke(app, args))
    assert "already holds a run (rce_epoch1.pt, metrics.jsonl, run.json)" in again and "--overwrite" in again
    metrics_before = (tmp_path / "run" / "metrics.jsonl").read_text()
    replaced = runner.invoke(app, args + ["--overwrite", "--seed", "1"])
    assert replaced.exit_code == 0, replaced.output
    assert json.loads((tmp_path / "run" / "run.json").read_text())["hyperparameters"]["seed"] == 1
    assert (tmp_path / "run" / "metrics.jsonl").read_text() != metrics_before
    steps = [json.loads(l)["step"] for l in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
             if "step" in json.loads(l)]
    assert steps == sorted(set(steps)), "the old run's metrics were not appended to"


@pytest.mark.parametrize("change, named", [
    (["--rce-lr", "0.001"], "rce_lr: 0.0001 -> 0.001"),
    (["--seed", "7"], "seed: 0 -> 7"),
    (["--reward-mode", "hard_only"], "reward_mode: 'hard_plus_soft' -> 'hard_only'"),
    ("other-data", "rl_data:"),
])
def test_resume_refuses_other_settings_naming_the_difference(tmp_path, change, named):
    data_dir, args = _example(tmp_path)
    assert runner.invoke(app, args).exit_code == 0
    changed = args + change if change != "other-data" else [
        str(tmp_path / "other.json") if a == str(data_dir / "rl_data.json") else a for a in args]
    if change == "other-data":  # the same file name, one query fewer: other content
        document = json.loads((data_dir / "rl_data.json").read_text())
        del document[next(k for k in document if k != "_meta")]
        (tmp_path / "other.json").write_text(json.dumps(document))
    checkpoints = sorted((tmp_path / "run").glob("*.pt"))
    refused = _one_line_error(runner.invoke(app, changed + ["--grpo-epochs", "1", "--resume"]))
    assert "was trained with other settings" in refused and named in refused
    assert "only rce_epochs, grpo_epochs, device may change on resume" in refused
    assert sorted((tmp_path / "run").glob("*.pt")) == checkpoints, "nothing was written"
    # the README's recipe: the same run, more epochs
    assert runner.invoke(app, args + ["--grpo-epochs", "1", "--resume"]).exit_code == 0
    assert (tmp_path / "run" / "grpo_epoch1.pt").exists()


def test_an_output_folder_in_use_is_refused(tmp_path):
    from leverplus.runs import OutputLock

    _, args = _example(tmp_path)
    with OutputLock(tmp_path / "run"):
        refused = _one_line_error(runner.invoke(app, args))
    assert "is being written by another run (pid" in refused
    assert not list((tmp_path / "run").glob("*.pt"))
    assert runner.invoke(app, args).exit_code == 0, "the lock is released with its holder"


def test_clean_errors_for_bad_options(tmp_path):
    import torch

    data_dir, args = _example(tmp_path)
    cases = [
        (["generate-rl-data", "--data-dir", str(data_dir), "--output", str(tmp_path / "r.json"), "--queries", "10:5"],
         "START must be below STOP"),
        (["generate-rl-data", "--data-dir", str(data_dir), "--output", str(tmp_path / "r.json"), "--queries", "a:b"],
         "expected START:STOP"),
        (["evaluate", "--data-dir", str(data_dir), "--queries", "800:1300", "--output", str(tmp_path / "e.json")],
         "there are only 80 items"),
        (["evaluate", "--data-dir", str(data_dir), "--shots", "1,x", "--output", str(tmp_path / "e.json")],
         "--shots '1,x': expected comma-separated counts"),
        (["evaluate", "--data-dir", str(data_dir), "--shots", "0", "--output", str(tmp_path / "e.json")],
         "--shots '0'"),
        (["train", "--rl-data", str(data_dir), "--embeddings", str(data_dir / "embeddings.pt")],
         "is a directory, not a file"),
        (args + ["--resume", "--overwrite"], "choose one"),
        (args + ["--device", "toaster"], "--device 'toaster': not a device"),
        (["merge-rl-data", str(data_dir), "--output", str(tmp_path / "m.json")], "is a directory"),
    ]
    if not torch.cuda.is_available():
        cases.append((args + ["--device", "cuda"], "sees no CUDA device; use --device cpu"))
    for command, message in cases:
        assert message in _one_line_error(runner.invoke(app, command)), command
    assert not (tmp_path / "r.json").exists() and not (tmp_path / "r.json.partial.jsonl").exists()


def test_more_clean_errors(tmp_path):
    import torch

    data_dir, args = _example(tmp_path)
    nothing = _one_line_error(runner.invoke(app, args[:-4] + ["--rce-epochs", "0", "--grpo-epochs", "0"]))
    assert "nothing to train" in nothing and not (tmp_path / "run").exists()
    for dtype, name in ((torch.int64, "int64"), (torch.bool, "bool"), (torch.complex64, "complex64")):
        torch.save(torch.zeros(80, 4, dtype=dtype), tmp_path / "bad.pt")
        bad = [str(tmp_path / "bad.pt") if a.endswith("embeddings.pt") else a for a in args]
        assert f"embeddings must be floating point, found {name}" in _one_line_error(runner.invoke(app, bad))
    torch.save(torch.zeros(80, 0), tmp_path / "bad.pt")
    assert "embeddings are empty (shape (80, 0))" in _one_line_error(runner.invoke(app, bad))
    document = json.loads((data_dir / "rl_data.json").read_text())
    first = next(k for k in document if k != "_meta")
    document[first]["candidate_pool"][0] = True  # JSON `true` is no item id
    (tmp_path / "pool.json").write_text(json.dumps(document))
    bad = [str(tmp_path / "pool.json") if a.endswith("rl_data.json") else a for a in args]
    assert f"query {first}: candidate_pool[0]: Input should be a valid integer" in _one_line_error(runner.invoke(app, bad))


@pytest.mark.parametrize("command", [["train", "--help"], ["evaluate", "--help"], ["merge-rl-data", "--help"]])
def test_every_subcommand_accepts_verbose(command):
    assert "--verbose" in runner.invoke(app, command).output


def test_an_internal_error_is_one_line_and_exit_3_and_a_full_disk_exit_2(tmp_path):
    import subprocess
    import sys

    crash = ("import sys, leverplus.rl_data as r\n"
             "r.merge_rl_data = lambda *a, **k: 1 / 0\n"
             "from leverplus.cli import main\nsys.argv = ['leverplus', 'merge-rl-data', *sys.argv[1:]]\nmain()")
    _, _ = _example(tmp_path)
    shard = tmp_path / "data" / "rl_data.json"
    done = subprocess.run([sys.executable, "-c", crash, str(shard), "--output", str(tmp_path / "m.json")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 3, done.stderr
    assert "internal error: ZeroDivisionError" in done.stderr and "Traceback" not in done.stderr
    verbose = subprocess.run([sys.executable, "-c", crash, str(shard), "--output", str(tmp_path / "m.json"), "-v"],
                             capture_output=True, text=True, timeout=120)
    assert verbose.returncode == 1 and "Traceback" in verbose.stderr
    full = ("import errno, sys, leverplus.data as d\n"
            "def full(*a, **k):\n    raise OSError(errno.ENOSPC, 'No space left on device', sys.argv[-1])\n"
            "d.atomic_write = full\n"
            "from leverplus.cli import main\nsys.argv = ['leverplus', 'make-example-data', '--num-items', '40',"
            " '--num-queries', '4', '--pool-size', '8', '--output-dir', sys.argv[-1]]\nmain()")
    disk = subprocess.run([sys.executable, "-c", full, str(tmp_path / "out")], capture_output=True, text=True,
                          timeout=120)
    assert disk.returncode == 2 and "No space left on device" in disk.stderr and "Traceback" not in disk.stderr


def test_legacy_weights_come_from_the_command_line(tmp_path):
    data_dir, args = _example(tmp_path)
    zero = _one_line_error(runner.invoke(app, args + ["--reward-mode", "legacy"]))
    assert "makes every reward 0" in zero
    assert "choose 01 or pm1" in _one_line_error(runner.invoke(app, args + ["--legacy-correctness", "x"]))
    ok = runner.invoke(app, args + ["--reward-mode", "legacy", "--legacy-beta", "1", "--legacy-correctness", "pm1"])
    assert ok.exit_code == 0, ok.output
    record = json.loads((tmp_path / "run" / "run.json").read_text())["hyperparameters"]
    assert (record["legacy_beta"], record["legacy_correctness"]) == (1.0, "pm1")
    hybrid = runner.invoke(app, args + ["--reward-mode", "hybrid", "--overwrite"])
    assert hybrid.exit_code == 0, hybrid.output


def test_ctrl_c_inside_a_command_says_how_to_go_on_and_exits_130(tmp_path, monkeypatch, capsys):
    # typer turns a KeyboardInterrupt raised inside a command into a silent exit 130: the line must still come
    import sys

    import leverplus.world
    from leverplus.cli import main

    class Interrupted:
        @staticmethod
        def build(*args, **kwargs):
            raise KeyboardInterrupt

    monkeypatch.setattr(leverplus.world, "World", Interrupted)
    monkeypatch.setattr(sys, "argv", ["leverplus", "make-example-data", "--output-dir", str(tmp_path / "data")])
    with pytest.raises(SystemExit) as exited:
        main()
    assert exited.value.code == 130
    assert "leverplus: interrupted (resume with --resume)" in capsys.readouterr().err
