"""Cold and warm `leveraudit check` of rules/v3.yaml over a generated research-size tree.

The tree is the research-style fixture trees (tests/fixtures/research_before and research_after)
replicated under renamed packages (`lever_lm` -> `lever_lm_07`, ...) until it holds about 17,000
lines: every copy mentions what the spec asks for, so the text pre-filter cannot skip any file and
the time is the engine's own (parse, analysis, checks). Each run is a fresh process, timed in turn
with a bare `ast.parse` of the same files.

    python benchmarks/audit_research.py              # builds benchmarks/.data/research-17k once
    python benchmarks/audit_research.py --repeat 5
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from audit_transformers import audit, bare_ast_parse  # noqa: E402 - the shared timing helpers

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
FIXTURES = REPO / "tests" / "fixtures"
TARGET_LINES = 17_000


def build_tree(target: Path) -> Path:
    if (target / ".complete").is_file():
        return target
    shutil.rmtree(target, ignore_errors=True)
    lines, copy = 0, 0
    while lines < TARGET_LINES:
        source = FIXTURES / ("research_before" if copy % 2 else "research_after")
        package = f"lever_lm_{copy:02d}"
        for path in sorted(source.rglob("*")):
            if not path.is_file() or path.name == "expect.yaml":
                continue
            rel = path.relative_to(source).as_posix().replace("lever_lm/", f"{package}/", 1)
            text = path.read_text(encoding="utf-8").replace("lever_lm.", f"{package}.")
            out = target / rel
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(text, encoding="utf-8")
            if path.suffix == ".py":
                lines += text.count("\n")
        copy += 1
    (target / ".complete").write_text("", encoding="utf-8")
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=3, help="runs of each measurement (the median is shown)")
    args = parser.parse_args()
    tree = build_tree(HERE / ".data" / "research-17k")
    files = sorted(tree.rglob("*.py"))
    lines = sum(p.read_text(encoding="utf-8").count("\n") for p in files)
    bare, cold, warm = [], [], []
    for _ in range(args.repeat):
        bare.append(bare_ast_parse(files)[0])
        with tempfile.TemporaryDirectory() as cache_dir:
            cache = Path(cache_dir)
            cold.append(audit(tree, cache))
            warm.append(audit(tree, cache))
    ast_s = statistics.median(bare)
    print(f"tree: {tree.name}  files: {len(files)}  lines: {lines}  (median of {args.repeat})")
    print(f"bare ast.parse of every file: {ast_s:6.2f} s")
    print(f"leveraudit cold audit:        {statistics.median(cold):6.2f} s  ({statistics.median(cold) / ast_s:.1f}x ast.parse)")
    print(f"leveraudit warm audit:        {statistics.median(warm):6.2f} s  ({statistics.median(warm) / ast_s:.1f}x ast.parse)")


if __name__ == "__main__":
    main()
