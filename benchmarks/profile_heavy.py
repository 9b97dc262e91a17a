"""Where a cold audit spends its time: the recipe behind the engine's speed work.

One process (jobs=1, so every cost shows up here), a fresh cache, the heavy spec by default. It prints the
time per phase (libcst's parse plus the index, and within it the nesting scan, the sparse split, CPython's
`ast.parse` wherever it runs, libcst's own parse and the index pass; each check kind's scan, the CLI extraction,
and what is left: discovery, reading, the pre-filter, evaluation; discovery and the JSON report's rendering on
their own), the non-blank lines of the parsed files and how many of them libcst was given, then cProfile's top
functions.

    python benchmarks/profile_heavy.py                              # the generated research-size tree
    python benchmarks/profile_heavy.py --tree path/to/django --spec rules/v3.yaml --top 40

For a view without cProfile's overhead, py-spy (`pip install py-spy`) samples the same run:
    py-spy record -o profile.svg -- python benchmarks/profile_heavy.py --no-cprofile
"""

from __future__ import annotations

import argparse
import cProfile
import collections
import pstats
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from audit_research import build_tree  # noqa: E402


# inside "libcst parse + index": the nesting and operator scan, the sparse split (with CPython's parse of the
# whole file), CPython's ast.parse wherever it runs (the split, evidence lines, the pre-filter's syntax check),
# libcst's own parse and the index pass
PARTS = ("nesting scan", "sparse split", "CPython's ast.parse", "libcst's own parse", "index pass")
# non-blank lines of the files parsed, and of what libcst was given (sparse parsing leaves the rest out)
LINES = ("lines of the parsed files", "lines libcst parsed")


def phases(spec, tree: Path) -> tuple[dict[str, float], float, object]:
    """Seconds per phase of one cold, single-process audit (the engine's functions wrapped in timers)."""
    import leveraudit.engine as engine
    import leveraudit.scan as scan
    import leveraudit.extract.module as module
    import leveraudit.extract.sparse as sparse
    from leveraudit.checks import KINDS

    spent: collections.Counter[str] = collections.Counter()

    def timed(name, function):
        def run(*args, **kwargs):
            start = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                spent[name] += time.perf_counter() - start
        return run

    saved = [(scan, "parse_module", scan.parse_module), (scan, "extract_cli", scan.extract_cli),
             (scan, "scan_job", scan.scan_job), (engine, "discover", engine.discover),
             (module, "too_complex", module.too_complex), (module, "sparse_source", module.sparse_source),
             (sparse.ast, "parse", sparse.ast.parse), (module, "parse_unvalidated", module.parse_unvalidated),
             (module, "_index", module._index)]
    saved += [(kind, "scan", kind.scan) for kind in KINDS.values()]
    def counted(name, function):   # the non-blank lines of the text each call is given
        def run(rel_or_text, *args, **kwargs):
            text = args[0] if args else rel_or_text
            spent[name] += sum(1 for line in text.split("\n") if line.strip())
            return function(rel_or_text, *args, **kwargs)
        return run

    scan.parse_module = counted(LINES[0], timed("libcst parse + index", scan.parse_module))
    # inside it (and so not added to what is outside): the parts of the parse
    module.too_complex = timed(PARTS[0], module.too_complex)
    module.sparse_source = timed(PARTS[1], module.sparse_source)
    sparse.ast.parse = timed(PARTS[2], sparse.ast.parse)
    module.parse_unvalidated = counted(LINES[1], timed(PARTS[3], module.parse_unvalidated))
    module._index = timed(PARTS[4], module._index)
    scan.extract_cli = timed("CLI extraction", scan.extract_cli)
    scan.scan_job = timed("per-file work (all of the above)", scan.scan_job)
    engine.discover = timed("discovery (part of what is outside)", engine.discover)
    for name, kind in KINDS.items():
        kind.scan = timed(f"scan: {name}", kind.scan)
    try:
        start = time.perf_counter()
        report, _ = engine.run_audit(spec, tree, cache_dir=Path(tempfile.mkdtemp(prefix="leveraudit-profile-")), jobs=1)
        total = time.perf_counter() - start
    finally:
        for owner, name, function in saved:
            setattr(owner, name, function)
    return dict(spent), total, report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tree", type=Path, help="tree to audit (default: the generated research-size tree)")
    parser.add_argument("--spec", type=Path, default=HERE / "heavy" / "heavy.yaml")
    parser.add_argument("--top", type=int, default=25, help="functions to list from cProfile")
    parser.add_argument("--no-cprofile", action="store_true", help="phases only (for py-spy)")
    args = parser.parse_args()
    from leveraudit.engine import run_audit
    from leveraudit.spec import load_spec

    spec = load_spec(args.spec)
    tree = args.tree or build_tree(HERE / ".data" / "research-17k")
    spent, total, report = phases(spec, tree)
    per_file = spent.pop("per-file work (all of the above)", 0.0)
    print(f"cold audit, one process: {total:.2f} s  ({tree})")
    parts = {name: spent.pop(name, 0.0) for name in PARTS}
    lines = [int(spent.pop(name, 0)) for name in LINES]
    for name, seconds in sorted(spent.items(), key=lambda pair: -pair[1]):
        print(f"  {name:34} {seconds:7.2f} s")
        if name == "libcst parse + index":
            for part, part_seconds in parts.items():
                print(f"    {part:32} {part_seconds:7.2f} s")
    print(f"  {'outside the per-file work':34} {total - per_file:7.2f} s  (discovery, reading, pre-filter, evaluation)")
    print(f"non-blank lines: {lines[0]:,} in the files parsed, {lines[1]:,} of them given to libcst (sparse parsing)")
    from leveraudit.report.json_report import render_json

    start = time.perf_counter()
    size = len(render_json(report, "en"))
    print(f"  {'JSON report (after the run)':34} {time.perf_counter() - start:7.2f} s  ({size / 1e6:.1f} MB)")
    import resource   # peak memory of this one-process audit: what parsed trees kept alive would show up as

    print(f"peak memory (max RSS) so far: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024} MB")
    if args.no_cprofile:
        return
    profile = cProfile.Profile()
    profile.enable()
    run_audit(spec, tree, cache_dir=Path(tempfile.mkdtemp(prefix="leveraudit-profile-")), jobs=1)
    profile.disable()
    pstats.Stats(profile).sort_stats("cumulative").print_stats(args.top)


if __name__ == "__main__":
    main()
