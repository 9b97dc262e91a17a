"""Checkpoints are loaded with weights_only=True: a crafted pickle is refused in one line and runs nothing."""

from __future__ import annotations

import subprocess
import sys

import pytest

torch = pytest.importorskip("torch")


class _Exploit:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))  # would create the marker file when unpickled


def _crafted(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "rce_epoch1.pt"
    torch.save({"format": "x", "model": _Exploit(str(marker))}, path)
    assert not marker.exists()
    return path, marker


def test_load_checkpoint_refuses_a_crafted_pickle(tmp_path):
    from leverplus.train import load_checkpoint

    path, marker = _crafted(tmp_path)
    with pytest.raises(ValueError, match="not a loadable checkpoint") as caught:
        load_checkpoint(path)
    assert str(path) in str(caught.value) and "\n" not in str(caught.value)
    assert not marker.exists()


@pytest.mark.parametrize("command", [["evaluate", "--v3-ckpt"], ["train", "--sft-ckpt"]])
def test_cli_refuses_a_crafted_checkpoint_with_one_line(tmp_path, command):
    path, marker = _crafted(tmp_path)
    data = tmp_path / "data"
    subprocess.run([sys.executable, "-m", "leverplus", "make-example-data", "--output-dir", str(data),
                    "--num-items", "60", "--num-queries", "20"], check=True, capture_output=True)
    args = {"evaluate": ["--data-dir", str(data), "--queries", "0:10", "--shots", "1"],
            "train": ["--rl-data", str(data / "rl_data.json"), "--embeddings", str(data / "embeddings.pt"),
                      "--output-dir", str(tmp_path / "run")]}[command[0]]
    done = subprocess.run([sys.executable, "-m", "leverplus", command[0], *args, command[1], str(path)],
                          capture_output=True, text=True)
    assert done.returncode == 2, done.stderr[-2000:]
    assert "Traceback" not in done.stderr and "not a loadable checkpoint" in done.stderr
    assert not marker.exists()
