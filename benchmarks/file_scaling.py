"""How the cost of one file grows with its size, up to the 1 MB cap: it must grow linearly.

One module is built from the research-style fixture files (`tests/fixtures/research_after`: the training
workflow, the dataset, the RL data generator), concatenated until it reaches each size (`from __future__`
lines dropped, every copy's definitions renamed so that each stays a distinct definition). For each size a
fresh process audits a tree holding that one file, in process and on one worker (`jobs=1`, an empty cache),
with the heavy spec (every definition is relevant) and with `rules/v3.yaml` (whose `flows` and `branch`
checks read the module whole). It prints the time, the time per 100 KB and the process's peak memory. A
cost that grows faster than the size shows as a rising time per 100 KB.

    python benchmarks/file_scaling.py
    python benchmarks/file_scaling.py --sizes 256 512 1000 --spec rules/v3.yaml
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
SOURCES = [REPO / "tests" / "fixtures" / "research_after" / "lever_lm" / rel
           for rel in ("workflows/grpo_post_train.py", "models/v3/dataset_v3.py", "models/v3/generate_rl_data.py")]
SPECS = [HERE / "heavy" / "heavy.yaml", REPO / "rules" / "v3.yaml"]
CAP_BYTES = 1024 * 1024   # leveraudit/extract/discover.py MAX_FILE_BYTES
_TOP_NAME = re.compile(r"^((?:async )?def |class )(\w+)", re.M)

# run in a fresh process per size: its peak memory is then this file's alone
MEASURE = """
import json, resource, sys, tempfile, time
from pathlib import Path
from leveraudit.engine import run_audit
from leveraudit.spec import load_spec
spec = load_spec(sys.argv[2])
start = time.perf_counter()
report, stats = run_audit(spec, Path(sys.argv[1]), cache_dir=Path(tempfile.mkdtemp()), jobs=1)
seconds = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "parsed": stats.parsed, "skipped": stats.skipped,
                  "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def module_of(size: int) -> str:
    """The fixture files, concatenated with renamed definitions, cut at a top-level statement near `size`."""
    pieces = [p.read_text(encoding="utf-8") for p in SOURCES]
    pieces = ["\n".join(line for line in text.splitlines() if not line.startswith("from __future__"))
              for text in pieces]
    out: list[str] = []
    total, copy = 0, 0
    while total < size:
        for text in pieces:
            renamed = _TOP_NAME.sub(lambda m: f"{m.group(1)}{m.group(2)}_{copy}", text)
            grown = len(renamed.encode("utf-8")) + 1   # the cap counts bytes
            if total + grown > min(size, CAP_BYTES - 1):
                return "\n".join(out) + "\n"
            out.append(renamed)
            total += grown
        copy += 1
    return "\n".join(out) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 256, 512, 1000],
                        help="file sizes in KB (at most 1023: the size cap is 1 MB)")
    parser.add_argument("--spec", type=Path, action="append",
                        help="spec to audit with (repeatable; default: the heavy spec and rules/v3.yaml)")
    args = parser.parse_args()
    print(f"{'spec':12} {'size':>8} {'lines':>7} {'seconds':>8} {'s / 100 KB':>10} {'peak MB':>8}")
    for spec in args.spec or SPECS:
        for size_kb in args.sizes:
            text = module_of(size_kb * 1024)
            tree = Path(tempfile.mkdtemp(prefix="leveraudit-scaling-"))
            (tree / "big_module.py").write_text(text, encoding="utf-8")
            done = subprocess.run([sys.executable, "-c", MEASURE, str(tree), str(spec)], capture_output=True,
                                  text=True, check=True)
            result = json.loads(done.stdout.strip().splitlines()[-1])
            if result["parsed"] != 1 or result["skipped"]:
                raise SystemExit(f"{size_kb} KB: the file was not analysed ({result})")
            kb = len(text.encode("utf-8")) / 1024
            print(f"{spec.stem:12} {kb:6.0f} KB {text.count(chr(10)):7} {result['seconds']:8.2f} "
                  f"{result['seconds'] / kb * 100:10.2f} {result['max_rss_mb']:8.0f}")


if __name__ == "__main__":
    main()
