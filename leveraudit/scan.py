"""One file's part of an audit: parse it, run its checks' scans, return JSON-able facts.

This is all a worker process runs, so it imports nothing a worker does not need: libcst (lazily), the
check kinds and the extractors, never pydantic or the report's models (`leveraudit.engine` plans the
audit and evaluates; the checks reach a worker as plain records, `leveraudit.records`). The warm
worker pool imports this module while the CLI starts (`leveraudit.warmpool`), so the smaller its
imports, the sooner the workers are ready.
"""

from __future__ import annotations

import contextlib
import gc
import os
import signal
import threading

from leveraudit.checks import KINDS
from leveraudit.extract.cli import extract_cli, may_hold_options
from leveraudit.extract.module import ParseFailure, parse_module
from leveraudit.extract.pattern import PatternError
from leveraudit.extract.sparse import ENABLED as SPARSE_ENABLED
from leveraudit.suppress import find_suppressions

# sparse parsing (extract/sparse.py; LEVERAUDIT_SPARSE=0 parses every kept file whole, to compare reports)
SPARSE_PARSE = SPARSE_ENABLED


def scan_file(rel: str, text: str, checks: list[tuple[str, object]], cli: bool) -> dict:
    """Everything the evaluation needs from one file; runs in worker processes, returns JSON data."""
    module = parse_module(rel, text, *segment_test(checks, cli))
    if isinstance(module, ParseFailure):
        return {"error": {"line": module.line, "column": module.column, "message": module.message}}
    try:
        return scan_parsed(module, text, checks, cli)
    finally:
        module.release()


def scan_parsed(module, text: str, checks: list[tuple[str, object]], cli: bool) -> dict:
    facts: dict[str, list[dict]] = {}
    errors: dict[str, str] = {}
    for check_id, check in checks:
        try:
            facts[check_id] = KINDS[check.kind].scan(check, module)
        except PatternError as exc:
            errors[check_id] = str(exc)
        except RecursionError:
            errors[check_id] = "code too deeply nested to analyse"
        except Exception as exc:  # noqa: BLE001 - one broken check must not hide the others' results
            errors[check_id] = f"internal error in {check.kind}: {type(exc).__name__}: {exc}"
    result: dict = {"facts": facts, "check_errors": errors, "suppressions": find_suppressions(text),
                    "analysed": module.analysed_functions(), "left_out": module.blanked}
    if cli:
        try:
            result["cli"] = [o.to_json() for o in extract_cli(module)]
        except Exception as exc:  # noqa: BLE001
            result["cli"] = []
            result["check_errors"]["<cli>"] = f"CLI extraction failed: {type(exc).__name__}: {exc}"
    return result


def segment_test(checks: list[tuple[str, object]], cli: bool):
    """The test sparse parsing keeps a definition by (any check may hold a fact in it, or the CLI
    extraction an option), whether a kept class's methods are tested one by one, whether what kept
    code names is kept too, and whether a module-level import whose names kept code never uses may go
    (no check's fact is an import itself); (None, False, True, False) when the file must be parsed
    whole: a check reads the whole module."""
    if not SPARSE_PARSE:
        return None, False, True, False
    kinds = [(KINDS[check.kind], check) for _, check in checks]
    if any(kind.segment_relevant(check, "") is None for kind, check in kinds):
        return None, False, True, False

    def wanted(text: str) -> bool:
        return (cli and may_hold_options(text)) or any(kind.segment_relevant(check, text) for kind, check in kinds)

    # the CLI extraction splits classes too: an option's program is its function's qualified name; it
    # follows names (a parser handed to a helper)
    return wanted, all(kind.splits_classes(check) for kind, check in kinds), \
        cli or any(kind.follows_names(check) for kind, check in kinds), \
        not any(kind.reads_imports(check) for kind, check in kinds)


# seconds of analysis one file may take; beyond it the file is a diagnostic and the run goes on
FILE_TIME_BUDGET_S = float(os.environ.get("LEVERAUDIT_FILE_BUDGET", "60"))


class _OverBudget(BaseException):  # not an Exception: a check's own error handling must not swallow it
    pass


def scan_job(job: tuple) -> dict:
    """`scan_file` under the per-file time budget (a SIGALRM timer in the process's main thread; in
    any other thread the budget cannot be enforced and the file is scanned without one).

    The cyclic garbage collector is paused for the file: a libcst tree is hundreds of thousands of
    objects, none of them in cycles, and collections triggered while it is built scan it again and
    again (about an eighth of the parse). Reference counting frees the tree when the scan returns."""
    with collector_paused():
        return _scan_budgeted(job)


def scan_batch(jobs: list[tuple]) -> list[dict]:
    """Several files in one task: each under its own time budget, with its own result."""
    return [scan_job(job) for job in jobs]


def _scan_budgeted(job: tuple) -> dict:
    if threading.current_thread() is not threading.main_thread() or not hasattr(signal, "setitimer"):
        return scan_file(*job)

    def expire(signum, frame):
        raise _OverBudget

    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, FILE_TIME_BUDGET_S)
    try:
        return scan_file(*job)
    except _OverBudget:
        return {"error": {"line": 1, "column": 1, "kind": "over-budget",
                          "message": f"analysis took longer than {FILE_TIME_BUDGET_S:g} s "
                                     f"(LEVERAUDIT_FILE_BUDGET); not audited"}}
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@contextlib.contextmanager
def collector_paused():
    paused = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if paused:
            gc.enable()
