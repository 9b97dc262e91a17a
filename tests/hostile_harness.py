"""The harness of the hostile-input suite (`tests/test_hostile_suite.py`).

Every case runs a CLI's real `main()` in-process (so `main()`'s own error handling is what is tested)
while a Python audit hook records every file the process opens or lists. A case then asserts:

* the exit code it expects (2 for unusable input, 0/1 for an audit that went on);
* for exit 2, one line on stderr that names the culprit, and never a traceback;
* that nothing under the decoy folder `outside/` — which the hostile inputs point at through symbolic
  links, `../` paths, absolute paths, globs and program entries — was opened or listed;
* that no sentinel fired: the trees, specs and data files hold code that creates `EXECUTED` if anything
  imports, executes, evaluates or unpickles it;
* that the inputs are unchanged (content hashes of the tree before and after).
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import os
import pickle
import shutil
import sys
from dataclasses import dataclass, field
from pathlib import Path

from tests.conftest import FIXTURES

_RECORDING: list[tuple[str, str]] | None = None


def _hook(event: str, args: tuple) -> None:
    if _RECORDING is None:
        return
    if event == "open" and args and isinstance(args[0], (str, bytes, os.PathLike)):
        _RECORDING.append(("open", os.fsdecode(args[0])))
    elif event in ("os.listdir", "os.scandir", "glob.glob") and args and isinstance(args[0], (str, bytes, os.PathLike)):
        _RECORDING.append((event, os.fsdecode(args[0])))


sys.addaudithook(_hook)  # audit hooks cannot be removed; this one costs nothing while not recording


@dataclass
class Outcome:
    code: int
    stdout: str
    stderr: str
    touched: list[tuple[str, str]] = field(default_factory=list)

    @property
    def message(self) -> str:
        return " ".join(self.stderr.split())


def sentinel_code(marker: Path) -> str:
    """Python that leaves `marker` behind if it ever runs."""
    return f"open({str(marker)!r}, 'w').write('ran')\n"


class _Exploit:
    """Unpickling this runs code: what a crafted checkpoint or embeddings file would do."""

    def __init__(self, marker: Path) -> None:
        self.marker = str(marker)

    def __reduce__(self):
        return (eval, (f"open({self.marker!r}, 'w').write('ran')",))


def write_exploit_pickle(path: Path, marker: Path, wrap=None) -> None:
    """A torch-loadable zip whose pickle runs code; `wrap(exploit)` nests it (e.g. in a checkpoint dict)."""
    import torch

    payload = _Exploit(marker)
    torch.save(wrap(payload) if wrap else payload, path, pickle_protocol=pickle.HIGHEST_PROTOCOL)


def tree_digest(root: Path) -> dict[str, str]:
    found = {}
    for path in sorted(root.rglob("*")):
        if path.is_symlink():
            found[path.relative_to(root).as_posix()] = "-> " + os.readlink(path)
        elif path.is_file():
            found[path.relative_to(root).as_posix()] = hashlib.sha256(path.read_bytes()).hexdigest()
    return found


class Harness:
    def __init__(self, base: Path) -> None:
        self.base = base
        self.marker = base / "EXECUTED"
        self.outside = base / "outside"
        self.outside.mkdir()
        code = sentinel_code(self.marker)
        # the decoy: it names everything the v3 spec looks for, so reading it would change verdicts
        (self.outside / "secret.py").write_text(
            code + "def load_sft_model(m, sd):\n    m.load_state_dict(sd, strict=False)\n"
            "skip_fallback_reward = vqa_eval_mode = 1\n", encoding="utf-8")
        (self.outside / "secret.yaml").write_text("rce_epochs: 99\n", encoding="utf-8")
        (self.outside / "secret.md").write_text("```bash\npython train.py --secret-flag\n```\n", encoding="utf-8")

    # -- trees ---------------------------------------------------------------------------------
    def tree(self, name: str = "tree", sentinels: bool = True) -> Path:
        root = self.base / name
        shutil.copytree(FIXTURES / "research_after", root)
        if sentinels:
            self.plant_sentinels(root)
        return root

    def plant_sentinels(self, root: Path) -> None:
        """Files that create the marker if the auditor imports, executes or evaluates anything."""
        code = sentinel_code(self.marker)
        for rel in ("setup.py", "conftest.py", "sitecustomize.py", "lever_lm/models/v3/__main__.py"):
            (root / rel).write_text(code, encoding="utf-8")
        init = root / "lever_lm" / "__init__.py"
        init.write_text(init.read_text(encoding="utf-8") + code, encoding="utf-8")
        (root / "evil.pth").write_text("import os; " + code, encoding="utf-8")
        (root / "lever_lm" / "cli_app.py").write_text(
            "import typer\napp = typer.Typer()\n\n@app.command()\n"
            f"def main(lr: float = typer.Option(eval({code.strip()!r}) or 1e-4)):\n    pass\n", encoding="utf-8")
        (root / "configs").mkdir(exist_ok=True)
        (root / "configs" / "train_config.yaml").write_text(
            f"rce_epochs: !!python/object/apply:eval [\"{code.strip()}\"]\nlr: 1e-4\n", encoding="utf-8")
        (root / "docs").mkdir(exist_ok=True)
        (root / "docs" / "run.md").write_text(
            f"```bash\npython -c \"{code.strip()}\"\n$(python -c \"{code.strip()}\")\n"
            f"python ../outside/secret.py --rce-epochs 1\npython {self.outside}/secret.py --rce-epochs 1\n```\n",
            encoding="utf-8")
        (root / "scripts" / "evil.sh").write_text(
            f"#!/bin/bash\npython -c \"{code.strip()}\"\nsource ../outside/secret.md\n"
            f"python {self.outside}/secret.py --rce_epochs 2\n", encoding="utf-8")
        os.symlink(self.outside / "secret.py", root / "lever_lm" / "linked_secret.py")
        os.symlink(self.outside, root / "lever_lm" / "linked_outside")
        os.symlink(self.outside / "secret.yaml", root / "configs" / "linked_config.yaml")
        os.symlink(self.outside / "secret.md", root / "docs" / "linked.md")

    # -- running ---------------------------------------------------------------------------------
    def run(self, main, argv: list[str], cwd: Path | None = None, limit_s: float = 120.0) -> Outcome:
        """`main()` with `argv`. A watchdog interrupts it after `limit_s` (SIGINT: the CLIs exit 130), so a
        regression that hangs (a FIFO opened blocking) turns a case red instead of stalling the suite."""
        global _RECORDING
        import signal
        import threading

        watchdog = threading.Timer(limit_s, lambda: os.kill(os.getpid(), signal.SIGINT))
        watchdog.daemon = True
        stdout, stderr = io.StringIO(), io.StringIO()
        old_argv, old_cwd = sys.argv, os.getcwd()
        code = 0
        touched: list[tuple[str, str]] = []
        sys.argv = argv
        try:
            os.chdir(cwd if cwd is not None else self.base)  # relative defaults (runs/v3) land in the sandbox
            _RECORDING = touched
            watchdog.start()
            with contextlib.redirect_stdout(stdout), contextlib.redirect_stderr(stderr):
                try:
                    main()
                except SystemExit as exc:
                    code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        finally:
            watchdog.cancel()
            _RECORDING = None
            sys.argv = old_argv
            os.chdir(old_cwd)
        return Outcome(code, stdout.getvalue(), stderr.getvalue(), touched)

    def outside_reads(self, outcome: Outcome) -> list[str]:
        outside = os.path.realpath(self.outside)
        found = []
        for event, path in outcome.touched:
            resolved = os.path.realpath(path)
            if resolved == outside or resolved.startswith(outside + os.sep):
                found.append(f"{event} {path}")
        return found

    def assert_safe(self, outcome: Outcome) -> None:
        assert not self.marker.exists(), "a sentinel ran: audited input was executed"
        assert "Traceback" not in outcome.stderr + outcome.stdout, outcome.stderr[-2000:]
        assert self.outside_reads(outcome) == [], f"read outside the audited tree: {self.outside_reads(outcome)[:5]}"
