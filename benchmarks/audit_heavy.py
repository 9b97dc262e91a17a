"""The engine's cost when the pre-filter cannot help: `benchmarks/heavy/heavy.yaml` names what every ML
repository is full of (`load_state_dict`, `torch.load`, `self.config`, `forward`, `__init__`, an `lr`
option), so nearly every file is parsed and analysed.

Timed in one run and interleaved (round robin, median of --repeat): a bare `ast.parse` of the tree,
libcst's own parse of the files the pre-filter keeps (in this process, and on 2 processes forked from it, which
inherit its libcst; and in a fresh process on 2 workers that each import libcst, as a CLI must: the last
column), leveraudit cold and warm (an unchanged tree: the identical last run replayed, `leveraudit.replay`;
and with replay off), and — when on PATH — Semgrep and ast-grep with the equivalent rules beside
the spec. Below the table, each of issue 11's targets whose rows were timed: its ratio (of the medians; with
several rounds also its range and median within a round, where drift cannot split the two rows), met or not.

    python benchmarks/audit_heavy.py                      # the generated research-size tree
    python benchmarks/audit_heavy.py --tree path/to/django --repeat 3
"""

from __future__ import annotations

import argparse
import ast
import functools
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from audit_research import build_tree  # noqa: E402
from audit_transformers import cli_env  # noqa: E402

SPEC = HERE / "heavy" / "heavy.yaml"


def timed(function) -> float:
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def _parse_one(text: str) -> None:
    import libcst

    try:
        libcst.parse_module(text)
    except Exception:  # noqa: BLE001 - a file libcst refuses costs what it costs
        pass


def kept_files(tree: Path) -> list[tuple[str, str]]:
    """(path, text) of the files the pre-filter keeps for the heavy spec."""
    from leveraudit.engine import Planner
    from leveraudit.extract.discover import Skipped, discover, read_source
    from leveraudit.spec import load_spec

    spec = load_spec(SPEC)
    planner = Planner(spec)
    kept = []
    for ref in discover(tree, spec.include, spec.exclude).files:
        source = read_source(ref)
        if not isinstance(source, Skipped) and planner.relevance(ref.rel, source.text)[0]:
            kept.append((ref.rel, source.text))
    return kept


FRESH_PARSE = """
import sys
from concurrent.futures import ProcessPoolExecutor

def parse(path):
    import libcst
    try:
        libcst.parse_module(open(path, encoding="utf-8", errors="replace").read())
    except Exception:
        pass

if __name__ == "__main__":
    paths = open(sys.argv[1], encoding="utf-8").read().splitlines()
    with ProcessPoolExecutor(2) as pool:
        list(pool.map(parse, paths, chunksize=4))
"""


@functools.cache
def cli_env_cached() -> dict[str, str]:
    return cli_env()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tree", type=Path, help="tree to audit (default: the generated research-size tree)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--only", action="append", default=[], metavar="WORDS",
                        help="time only the rows whose name contains WORDS (repeatable); the ast.parse and "
                             "libcst-on-2-processes rows, which the ratios are of, are always timed")
    args = parser.parse_args()
    tree = args.tree or build_tree(HERE / ".data" / "research-17k")
    files = sorted(p for p in tree.rglob("*.py") if p.is_file() and not p.is_symlink())
    texts = [p.read_text(encoding="utf-8", errors="replace") for p in files]
    kept = kept_files(tree)
    # the forked rows (libcst x2, the engine in process) mean "workers that inherit libcst": import it here, or
    # with the one-process row left out by --only, every forked worker would import it again
    import libcst  # noqa: F401

    def bare():
        for text in texts:
            try:
                ast.parse(text)
            except SyntaxError:
                pass

    def libcst_parse():
        for _, text in kept:
            _parse_one(text)

    def libcst_parse_2():   # the engine's own setting on 2 cores: a pool of 2, the pool's start included
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(2) as pool:
            list(pool.map(_parse_one, [text for _, text in kept], chunksize=4))

    # the same parse as a fresh process, as the CLI runs: the interpreter starts and each worker imports
    # libcst (the in-process rows above inherit this process's libcst when they fork)
    kept_list = Path(tempfile.mkdtemp(prefix="leveraudit-heavy-kept-")) / "kept.txt"
    kept_list.write_text("\n".join(str(tree / rel) for rel, _ in kept), encoding="utf-8")

    def libcst_parse_2_fresh():
        subprocess.run([sys.executable, "-c", FRESH_PARSE, str(kept_list)], check=True, env=cli_env_cached())

    engine_cache = {}

    def engine(cold: bool):   # the engine in this process: what is left once the interpreter has started
        from leveraudit.engine import run_audit
        from leveraudit.spec import load_spec

        spec = load_spec(SPEC)

        def run():
            if cold:
                engine_cache["dir"] = Path(tempfile.mkdtemp(prefix="leveraudit-heavy-engine-"))
            run_audit(spec, tree, cache_dir=engine_cache["dir"], jobs=2)
        return run

    cache_holder = {}
    env = cli_env_cached()

    def leveraudit(cold: bool, replayed: bool = True):
        def run():
            if cold:
                cache_holder["dir"] = tempfile.mkdtemp(prefix="leveraudit-heavy-")
            done = subprocess.run([sys.executable, "-m", "leveraudit", "check", "--spec", str(SPEC), str(tree),
                                   "-f", "json", "-o", str(Path(cache_holder["dir"]) / "r.json"),
                                   "--cache-dir", cache_holder["dir"], "--fail-on", "never"],
                                  capture_output=True, text=True,
                                  env=env if replayed else dict(env, LEVERAUDIT_REPLAY="0"))
            if done.returncode != 0:
                raise SystemExit(done.stderr)
        return run

    def one_file_changed():   # a warm run after an edit of one kept file (about 1,800 lines, as a typical module)
        rel = min(kept, key=lambda pair: abs(pair[1].count("\n") - 1800))[0]
        path = tree / rel
        original = path.read_bytes()
        path.write_bytes(original + b"\n# an edit the benchmark makes and takes back\n")
        try:
            leveraudit(False)()
        finally:
            path.write_bytes(original)

    runs = {"bare ast.parse (whole tree)": bare, "libcst parse (kept files, 1 process)": libcst_parse,
            "libcst parse (kept files, 2 processes)": libcst_parse_2,
            "libcst parse (kept files, 2 processes, fresh)": libcst_parse_2_fresh,
            "leveraudit cold (CLI)": leveraudit(True), "leveraudit warm (CLI)": leveraudit(False),
            # what a warm run costs when it cannot be replayed (a file touched, `--verbose`): the plan index
            "leveraudit warm, not replayed (CLI)": leveraudit(False, replayed=False),
            "leveraudit warm, one file changed (CLI)": one_file_changed,
            "engine cold (in process, 2 jobs)": engine(True), "engine warm (in process)": engine(False)}
    if shutil.which("semgrep"):
        # no version check (it waits on the network), and every file, as leveraudit reads them
        runs["semgrep"] = lambda: subprocess.run(["semgrep", "--config", str(HERE / "heavy" / "semgrep.yaml"),
                                                  "--metrics=off", "--disable-version-check", "--no-git-ignore",
                                                  "--jobs", "2", "--quiet", str(tree)], capture_output=True)
    if shutil.which("ast-grep"):  # not `sg`: on Linux that name is usually the setgid tool
        binary = shutil.which("ast-grep")
        runs["ast-grep"] = lambda: subprocess.run([binary, "run", "-p", "$M.load_state_dict($$$)", str(tree)],
                                                  capture_output=True)
    always = ("bare ast.parse (whole tree)", "libcst parse (kept files, 2 processes)",
              "libcst parse (kept files, 2 processes, fresh)")
    if args.only:
        runs = {name: run for name, run in runs.items() if name in always or any(w in name for w in args.only)}
    timings: dict[str, list[float]] = {name: [] for name in runs}
    for _ in range(args.repeat):
        for name, run in runs.items():  # interleaved: drift on a shared machine hits every row alike
            timings[name].append(timed(run))
    base = statistics.median(timings["bare ast.parse (whole tree)"])
    parse2 = statistics.median(timings["libcst parse (kept files, 2 processes)"])
    fresh2 = statistics.median(timings["libcst parse (kept files, 2 processes, fresh)"])
    print(f"tree: {tree}  files: {len(files)}  kept by the pre-filter: {len(kept)}  (median of {args.repeat})")
    print(f"{'':46} {'time':>9}  {'/ ast.parse':>11}  {'/ libcst x2':>11}  {'/ fresh x2':>10}")
    for name, values in timings.items():
        median = statistics.median(values)
        print(f"{name:46} {median:7.2f} s  {median / base:10.2f}x  {median / parse2:10.2f}x  {median / fresh2:9.2f}x")
    for line in target_lines({name: statistics.median(values) for name, values in timings.items()}, timings):
        print(line)
    missing = [tool for tool in ("semgrep", "ast-grep") if not shutil.which(tool)]   # not: left out by --only
    if missing:
        print(f"({' and '.join(missing)} not installed here; install to add the row)")


# issue 11's targets, each as (what, the rows it divides, the bound, whether the ratio must stay below it)
TARGETS = (
    ("cold CLI <= 1.3x libcst's parse on 2 fresh processes", "leveraudit cold (CLI)",
     "libcst parse (kept files, 2 processes, fresh)", 1.3, True),
    ("cold engine <= 1.3x libcst's parse on 2 forked processes", "engine cold (in process, 2 jobs)",
     "libcst parse (kept files, 2 processes)", 1.3, True),
    ("Semgrep takes >= 2x the cold CLI", "semgrep", "leveraudit cold (CLI)", 2.0, False),
    ("warm CLI <= 0.2x a bare ast.parse of the tree", "leveraudit warm (CLI)", "bare ast.parse (whole tree)", 0.2,
     True),
)


def target_lines(medians: dict[str, float], rounds: dict[str, list[float]] | None = None) -> list[str]:
    """Each target whose rows were timed, with its ratio (of the medians) and whether this run meets it.
    With several rounds, also the ratio within each round (both rows timed minutes apart at most), whose
    spread shows how much of a difference the machine's own drift could make."""
    lines = []
    for what, row, over, bound, below in TARGETS:
        if row not in medians or over not in medians:
            continue
        ratio = medians[row] / medians[over]
        met = ratio <= bound if below else ratio >= bound
        spread = ""
        if rounds and len(rounds[row]) > 1:
            paired = sorted(a / b for a, b in zip(rounds[row], rounds[over]))
            spread = f" (within a round: {paired[0]:.2f}-{paired[-1]:.2f}x, median {statistics.median(paired):.2f}x)"
        lines.append(f"target: {what}: {ratio:.2f}x{spread}, {'met' if met else 'NOT met'}")
    changed = medians.get("leveraudit warm, one file changed (CLI)")
    if changed is not None:   # the bound is for a transformers-size tree
        lines.append(f"target: one changed file <= 1.5 s: {changed:.2f} s, {'met' if changed <= 1.5 else 'NOT met'}")
    return lines


if __name__ == "__main__":
    main()
