"""Cold and warm `leveraudit check` of rules/v3.yaml over the transformers source tree, beside a bare
`ast.parse` of every file of the same tree, in the same run.

    python benchmarks/audit_transformers.py            # downloads the sdist once into benchmarks/.data
    python benchmarks/audit_transformers.py --tree DIR # any other tree
"""

from __future__ import annotations

import argparse
import ast
import os
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
DATA = HERE / ".data"


def cli_env() -> dict[str, str]:
    """The environment a timed `leveraudit` process runs in: as an installed package is, with its bytecode
    compiled. PYTHONDONTWRITEBYTECODE (set on some machines) would otherwise have an editable install
    compile leveraudit's own modules again in every run, a cost no user of a wheel pays."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(REPO / "leveraudit")], check=True, env=env)
    return env


def fetch_transformers() -> Path:
    existing = sorted(DATA.glob("transformers-*/"))
    if existing:
        return existing[-1]
    DATA.mkdir(parents=True, exist_ok=True)
    subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:", "-d", str(DATA),
                    "transformers"], check=True)
    archive = sorted(DATA.glob("transformers-*.tar.gz"))[-1]
    with tarfile.open(archive) as tar:
        tar.extractall(DATA, filter="data")
    return sorted(DATA.glob("transformers-*/"))[-1]


def bare_ast_parse(files: list[Path]) -> tuple[float, int]:
    lines = 0
    start = time.perf_counter()
    for path in files:
        text = path.read_text(encoding="utf-8", errors="replace")
        lines += text.count("\n")
        try:
            ast.parse(text)
        except SyntaxError:
            pass
    return time.perf_counter() - start, lines


def audit(tree: Path, cache: Path) -> float:
    env = cli_env()
    start = time.perf_counter()
    result = subprocess.run([sys.executable, "-m", "leveraudit", "check", "--spec", str(REPO / "rules" / "v3.yaml"),
                             str(tree), "-f", "json", "-o", str(cache / "report.json"), "--cache-dir", str(cache)],
                            capture_output=True, text=True, env=env)
    elapsed = time.perf_counter() - start
    if result.returncode not in (0, 1):
        raise SystemExit(result.stderr)
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tree", type=Path, help="tree to audit (default: the transformers sdist)")
    args = parser.parse_args()
    tree = args.tree or fetch_transformers()
    files = sorted(p for p in tree.rglob("*.py") if p.is_file() and not p.is_symlink())
    ast_seconds, lines = bare_ast_parse(files)
    with tempfile.TemporaryDirectory() as cache_dir:
        cache = Path(cache_dir)
        cold = audit(tree, cache)
        warm = audit(tree, cache)
    print(f"tree: {tree.name}  files: {len(files)}  lines: {lines}")
    print(f"bare ast.parse of every file: {ast_seconds:6.2f} s  ({lines / ast_seconds:,.0f} lines/s)")
    print(f"leveraudit cold audit:        {cold:6.2f} s  ({cold / ast_seconds:.2f}x ast.parse)")
    print(f"leveraudit warm audit:        {warm:6.2f} s  ({warm / ast_seconds:.2f}x ast.parse)")


if __name__ == "__main__":
    main()
