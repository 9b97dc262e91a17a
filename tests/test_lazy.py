"""libcst is imported on first use (leveraudit/lazy.py): a warm run, whose facts all come from the
cache, never imports it, and the lazy module behaves as libcst itself once loaded. Nor does a report
written as JSON import rich: only the terminal renderer and the progress bar draw with it."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.conftest import REPO, V3

_WARM_RUN = """
import json, sys
sys.argv = ["leveraudit", "check", "--spec", sys.argv[1], sys.argv[2], "-f", "json", "-o", sys.argv[3],
            "--cache-dir", sys.argv[4], "--fail-on", "never"]
from leveraudit.cli import main   # the CLI without its fast exit (run()), so that what it imported shows
try:
    main()
except SystemExit as exc:
    code = exc.code
print(json.dumps({"libcst": "libcst" in sys.modules, "rich": "rich" in sys.modules, "code": code}))
"""


def _run(spec, root, report, cache) -> dict:
    done = subprocess.run([sys.executable, "-c", _WARM_RUN, str(spec), str(root), str(report), str(cache)],
                          capture_output=True, text=True, cwd=REPO, timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_warm_check_never_imports_libcst(tmp_path):
    # v3 reaches every part of a warm run: facts, the CLI surface's programs (scripts resolved to the
    # files they run) and patterns validated at spec load
    root = REPO / "tests" / "fixtures" / "research_after"
    cold = _run(V3, root, tmp_path / "cold.json", tmp_path / "cache")
    warm = _run(V3, root, tmp_path / "warm.json", tmp_path / "cache")
    assert cold == {"libcst": True, "rich": False, "code": 0}     # not vacuous: the cold run parses
    assert warm == {"libcst": False, "rich": False, "code": 0}
    assert (tmp_path / "warm.json").read_text() == (tmp_path / "cold.json").read_text()


def test_the_lazy_module_is_libcst_once_loaded():
    import libcst

    from leveraudit.lazy import cst

    assert cst.Name is libcst.Name and cst.parse_module is libcst.parse_module
    assert cst.metadata.PositionProvider is libcst.metadata.PositionProvider
    assert "Name" in vars(cst)   # copied: later reads are plain dictionary lookups


def test_the_terminal_report_still_draws_with_rich(tmp_path):
    # the other side of "JSON never imports rich": the terminal renderer does (not vacuous)
    done = subprocess.run([sys.executable, "-m", "leveraudit", "check", "--spec", str(V3), "--no-cache",
                           str(REPO / "tests" / "fixtures" / "research_after")],
                          capture_output=True, text=True, cwd=REPO, timeout=300)
    assert done.returncode == 0, done.stderr
    assert "3.3.3" in done.stdout and "✅" in done.stdout


def test_the_cli_never_looks_up_pydantic_plugins():
    # pydantic scans every installed distribution's entry points for plugins when the first model is built
    # (20-50 ms a run); the CLI turns the lookup off unless the user set PYDANTIC_DISABLE_PLUGINS themselves
    probe = ("import importlib.metadata as m, json, os\n"
             "calls = []\n"
             "real = m.entry_points\n"
             "m.entry_points = lambda **kw: (calls.append(kw.get('group')), real(**kw))[1]\n"
             "import leveraudit.cli\n"
             "from leveraudit.spec import load_spec\n"
             f"load_spec({str(V3)!r})\n"
             "print(json.dumps([calls, os.environ.get('PYDANTIC_DISABLE_PLUGINS')]))\n")
    env = {k: v for k, v in os.environ.items() if k != "PYDANTIC_DISABLE_PLUGINS"}
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=REPO, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [[], "__all__"]
    mine = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, cwd=REPO,
                          env={**env, "PYDANTIC_DISABLE_PLUGINS": "some_plugin"}, timeout=120)
    calls, setting = json.loads(mine.stdout)
    assert setting == "some_plugin" and "pydantic" in calls   # the user's choice wins (and the probe sees lookups)
