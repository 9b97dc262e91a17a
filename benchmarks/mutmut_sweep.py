"""A mutmut sweep of leverplus's formulas (`objectives.py`, `rewards.py`) against their unit tests.

    .venv/bin/pip install mutmut==3.8.1        # a benchmark tool, not a project dependency
    .venv/bin/python benchmarks/mutmut_sweep.py

mutmut rewrites one operator, constant or argument at a time and reruns the tests that cover the
function; a mutant the tests do not notice "survives". The sweep runs in a temporary copy of the tracked
files (mutmut writes a `mutants/` tree beside its config) with one BLAS/OpenMP thread, since forking a
process whose torch thread pool is running can deadlock. Prints killed / survived and every survivor.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CONFIG = """[mutmut]
paths_to_mutate = leverplus/objectives.py
    leverplus/rewards.py
tests_dir = tests/leverplus/test_rewards_and_objectives.py
    tests/leverplus/test_model.py
also_copy = leverplus
    leveraudit
    tests
    rules
"""


def main() -> int:
    mutmut = Path(sys.executable).with_name("mutmut")
    if not mutmut.exists():
        print("mutmut is not installed: .venv/bin/pip install mutmut==3.8.1", file=sys.stderr)
        return 2
    files = subprocess.run(["git", "ls-files"], cwd=REPO, capture_output=True, text=True, check=True).stdout.split()
    with tempfile.TemporaryDirectory(prefix="leverplus-mutmut-") as scratch:
        root = Path(scratch)
        for rel in files:
            target = root / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes((REPO / rel).read_bytes())
        (root / "setup.cfg").write_text(CONFIG, encoding="utf-8")
        env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
        subprocess.run([str(mutmut), "run"], cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        results: dict[str, int | None] = {}
        for meta in (root / "mutants").rglob("*.meta"):
            results.update(json.loads(meta.read_text())["exit_code_by_key"])
    killed = sum(code not in (0, None, 33) for code in results.values())
    survived = sorted(name for name, code in results.items() if code == 0)
    untested = sorted(name for name, code in results.items() if code in (None, 33))
    print(f"{killed}/{len(results)} mutants killed ({killed / max(len(results), 1):.1%}); "
          f"{len(survived)} survived, {len(untested)} not covered")
    for name in survived:
        print(f"  survived: {name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
