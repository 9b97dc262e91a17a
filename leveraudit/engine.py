"""Run a spec over a tree: discover, pre-filter, parse (in parallel, cached), scan, evaluate."""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import re
import tempfile
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from leveraudit import scan, warmpool
from leveraudit.analysis.programs import compute_scope
from leveraudit.cache import FactCache, analysis_version
from leveraudit.checks import KINDS
from leveraudit.checks.base import ERROR, FAIL, PARTIAL, PASS, Context, L, Outcome
from leveraudit.checks.surface_kinds import SurfaceKind
from leveraudit.extract.cli import CliOption
from leveraudit.extract.discover import (FileRef, GlobSet, Skipped, discover, read_raw_text, read_source,
                                         read_tree_config)
from leveraudit.extract.module import code_text
from leveraudit.records import record
from leveraudit.spec.models import Spec
from leveraudit.suppress import SUPPRESSED, apply_suppressions
from leveraudit.surface import CLI_MARKERS, Surface

if TYPE_CHECKING:
    from leveraudit.report.model import Report

_CLI_MARKERS = ("add_argument", "set_defaults", "typer", "click", "Option(")


@dataclass
class _Plan:
    """What one file must go through: which checks scan it, and whether its CLI surface matters."""

    ref: FileRef
    digest: str
    check_ids: list[str]
    cli: bool
    text: str | None = None
    # checks the exact pre-filter stage spared: they still hear of it if the file does not parse
    spared_ids: list[str] = field(default_factory=list)
    lines: int = 0   # of `text`, counted once when it is scheduled


@dataclass
class AuditStats:
    files: int = 0
    read: int = 0
    parsed: int = 0
    cached: int = 0
    skipped: int = 0
    excluded: int = 0  # by the spec's `exclude` (folders count once)
    ignored: int = 0  # by `.gitignore`
    functions: int = 0  # functions (and module bodies) whose control and data flow were analysed
    left_out: int = 0  # definitions sparse parsing left out of the parsed files (no check could look at them)
    workers: int = 0  # worker processes that parsed (0: parsed in this process)
    warm_pool: bool = False  # the workers came from the warm pool (leveraudit.warmpool), not started by the audit


def spec_fingerprint(spec: Spec) -> str:
    # which checks a file is scanned for depends on the pre-filter's stages too: cached facts must match
    stages = ("exact" if EXACT_PREFILTER else "text") + ("+sparse" if scan.SPARSE_PARSE else "")
    return hashlib.sha256(f"{stages}\0{spec.model_dump_json(by_alias=True)}".encode()).hexdigest()


# what one task for the worker pool holds at most (a larger file is a task alone): a task costs this
# process about 0.2 ms (pickling, queues, a wake-up), which a batch of small files pays once
BATCH_LINES = 2000
BATCH_FILES = 16

# below this much to parse, starting worker processes costs more than it saves
PARALLEL_MIN_FILES = 4
PARALLEL_MIN_LINES = 4000
# unchanged files whose cached facts take longer to read than starting workers (about 0.1 ms each)
OVERLAP_MIN_CACHED = 500

def _batches(waiting: list[tuple]) -> list[list[tuple]]:
    """(plan, job) pairs grouped into worker tasks, largest file first (a big file started late would
    keep one worker busy alone): a file of `BATCH_LINES` or more is a task alone, smaller ones go
    together up to that many lines or `BATCH_FILES` files, so that a task's fixed cost is paid once."""
    batches: list[list[tuple]] = []
    batch: list[tuple] = []
    lines = 0
    for pair in sorted(waiting, key=lambda pair: -pair[0].lines):
        batch.append(pair)
        lines += pair[0].lines
        if lines >= BATCH_LINES or len(batch) >= BATCH_FILES:
            batches.append(batch)
            batch, lines = [], 0
    if batch:
        batches.append(batch)
    return batches


class Planner:
    """The text pre-filter: which checks can match a file, decided without parsing it."""

    def __init__(self, spec: Spec) -> None:
        self.checks = list(spec.iter_checks())
        self.narrowed = {check_id: GlobSet(check.files) for _, check_id, check in self.checks if check.files}
        dests: set[str] = set()
        for _, _, check in self.checks:
            dests |= KINDS[check.kind].cli_dests(check)
        self.cli_words = sorted({d for dest in dests for d in (dest, dest.replace("_", "-"))})

    def relevance(self, rel: str, text: str) -> tuple[list[str], bool, list[str]]:
        """The checks that could match in this file, whether it may define CLI options, and the checks
        the second stage spared (reported a syntax error like the others, never scanned).

        Stage one is a plain text test: a check whose words are missing cannot match. Stage two is
        exact for checks whose words must be code (`identifiers_only`): the same test over the file's
        code, strings and comments blanked out, so `torch.load` in a docstring keeps no file. A file
        that would then not be parsed at all is still kept when CPython's parser refuses it, so its
        syntax error is reported exactly as without the second stage."""
        ids = [check_id for _, check_id, check in self.checks
               if (check_id not in self.narrowed or self.narrowed[check_id].matches(rel))
               and KINDS[check.kind].relevant(check, text)]
        cli = bool(self.cli_words) and any(m in text for m in _CLI_MARKERS) and any(w in text for w in self.cli_words)
        if ids and EXACT_PREFILTER:
            exact = {check_id: check for _, check_id, check in self.checks if check_id in ids
                     and KINDS[check.kind].identifiers_only(check)}
            if exact:
                code = code_text(text)
                dropped = {i for i, check in exact.items() if not KINDS[check.kind].relevant(check, code)}
                if dropped and (len(dropped) < len(ids) or cli or _parses(text)):
                    return [i for i in ids if i not in dropped], cli, [i for i in ids if i in dropped]
        return ids, cli, []


# the exact second stage of the pre-filter (LEVERAUDIT_EXACT_PREFILTER=0 turns it off, to compare reports)
EXACT_PREFILTER = os.environ.get("LEVERAUDIT_EXACT_PREFILTER", "1") != "0"


def _parses(text: str) -> bool:
    """CPython's parser (parse only, nothing runs) accepts the file: a file it refuses is kept, so that
    libcst reports the syntax error as it would without the second stage."""
    import ast

    try:
        ast.parse(text)
        return True
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return False


class PlanIndex:
    """rel -> (size, mtime, ctime, inode, digest, relevant checks): a warm run reads only the files that
    changed. ctime cannot be set by a user, so an edit whose size and mtime were restored is still seen."""

    def __init__(self, directory: Path | None, root: Path, fingerprint: str) -> None:
        self.path = None
        self.entries: dict[str, dict] = {}
        if directory is not None:
            key = hashlib.sha256(f"{analysis_version()}\0{fingerprint}\0{root.resolve()}".encode()).hexdigest()[:24]
            self.path = directory / "index" / f"{key}.json"
            try:
                self.entries = json.loads(self.path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                self.entries = {}
        self.fresh: dict[str, dict] = {}

    def lookup(self, ref: FileRef) -> dict | None:
        entry = self.entries.get(ref.rel)
        if entry and entry.get("size") == ref.size and entry.get("mtime") == ref.mtime_ns \
                and entry.get("change") == list(ref.change):  # an edit with its mtime put back changes ctime
            self.fresh[ref.rel] = entry
            return entry
        return None

    def store(self, ref: FileRef, entry: dict) -> None:
        entry.update(size=ref.size, mtime=ref.mtime_ns, change=list(ref.change))
        self.fresh[ref.rel] = entry

    def save(self) -> None:
        if self.path is None or self.fresh == self.entries:
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            handle, temp = tempfile.mkstemp(dir=self.path.parent, suffix=".tmp")
            with os.fdopen(handle, "w", encoding="utf-8") as stream:
                # one C-encoded write: `json.dump` to a stream runs the pure-Python encoder (0.1 s on transformers)
                stream.write(json.dumps(self.fresh))
            os.replace(temp, self.path)
        except OSError:
            pass


def _plan(planner: Planner, discovery, index: PlanIndex, stats: AuditStats, skipped: list, programs: list):
    """The files some check must scan, one at a time (so parsing can start before planning ends);
    unreadable files go to `skipped`, files that may define CLI options to `programs`."""
    for ref in discovery.files:
        entry = index.lookup(ref)
        text = None
        if entry is None:
            source = read_source(ref)
            stats.read += 1
            if isinstance(source, Skipped):
                entry = {"skip": source.reason}
            else:
                ids, cli, spared = planner.relevance(ref.rel, source.text)
                entry = {"digest": source.digest, "ids": ids, "cli": cli, "spared": spared,
                         "program": any(m in source.text for m in CLI_MARKERS)}
                text = source.text
            index.store(ref, entry)
        if "skip" in entry:
            skipped.append(Skipped(ref.rel, entry["skip"]))
            continue
        if entry.get("program"):
            programs.append(ref.rel)
        if entry["ids"] or entry["cli"]:
            yield _Plan(ref, entry["digest"], list(entry["ids"]), entry["cli"], text,
                        spared_ids=list(entry.get("spared", [])))


def run_audit(spec: Spec, root: Path, *, spec_path: str = "", cache_dir: Path | None = None, jobs: int | None = None,
              progress=None) -> tuple[Report, AuditStats]:
    # the cyclic collector is paused for the whole audit, not only per file: the facts of every file pile up
    # (none in cycles) and each collection would walk them all again; reference counting frees the rest
    with scan.collector_paused():
        return _run_audit(spec, root, spec_path=spec_path, cache_dir=cache_dir, jobs=jobs, progress=progress)


def _run_audit(spec: Spec, root: Path, *, spec_path: str, cache_dir: Path | None, jobs: int | None,
               progress) -> tuple[Report, AuditStats]:
    discovery = discover(root, spec.include, spec.exclude)
    checks_by_id = {check_id: check for _, check_id, check in spec.iter_checks()}
    # what a worker receives: plain records, which unpickle without pydantic (leveraudit.records)
    scanned_as = {check_id: record(check) for check_id, check in checks_by_id.items()}
    fingerprint = spec_fingerprint(spec)
    stats = AuditStats(files=len(discovery.files), excluded=discovery.excluded, ignored=discovery.ignored)
    index = PlanIndex(cache_dir, root, fingerprint)
    skipped: list[Skipped] = list(discovery.skipped)
    programs: list[str] = []  # files that may define CLI options, for the config-surface kinds
    cache = FactCache(cache_dir, fingerprint)
    planner = Planner(spec)   # the pre-filter, for every file read (and for the raw bytes of skipped ones)
    workers = jobs if jobs is not None else min(os.cpu_count() or 1, 8)

    plans: list[_Plan] = []
    results: dict[str, dict] = {}
    todo: list[_Plan] = []
    waiting: list[tuple[_Plan, tuple]] = []   # planned, not yet handed to a worker
    running: dict = {}                        # future -> the plans of its batch
    waiting_lines = 0
    pool = None

    def hand_over() -> None:
        for batch in _batches(waiting):
            running[pool.submit(scan.scan_batch, [job for _, job in batch])] = [plan for plan, _ in batch]
        waiting.clear()

    def start_pool() -> None:
        nonlocal pool
        warm = warmpool.claim(workers)
        pool = warm or ProcessPoolExecutor(max_workers=workers)
        stats.workers, stats.warm_pool = workers, warm is not None

    def schedule(plan: _Plan) -> None:
        nonlocal waiting_lines
        todo.append(plan)
        waiting.append((plan, (plan.ref.rel, plan.text, [(i, scanned_as[i]) for i in plan.check_ids], plan.cli)))
        plan.lines = plan.text.count("\n")
        waiting_lines += plan.lines
        if pool is None and workers > 1 and len(todo) >= PARALLEL_MIN_FILES and waiting_lines > PARALLEL_MIN_LINES:
            start_pool()
        if pool is not None and len(waiting) >= 4 * workers:
            hand_over()

    def cached(plan: _Plan) -> bool:
        facts = cache.get(_cache_key(plan))
        if facts is not None:
            results[plan.ref.rel] = facts
            stats.cached += 1
        return facts is not None

    def finished(plan: _Plan, result: dict) -> None:
        # cached as it arrives, while the workers parse the rest (after them, writing hundreds of
        # entries was a serial tail of the run)
        results[plan.ref.rel] = result
        cache.put(_cache_key(plan), result)
        if progress:
            progress()

    unchanged: list[_Plan] = []   # known from the index: their facts are read once what changed is handed over
    try:
        # planning (reading, pre-filter, cache lookups) overlaps with the workers' parsing
        for plan in _plan(planner, discovery, index, stats, skipped, programs):
            plans.append(plan)
            if plan.text is None:
                unchanged.append(plan)
            elif not cached(plan):
                schedule(plan)
        # a warm run with a few changed files: one worker parses them (and imports libcst) while this
        # process reads the unchanged files' facts, instead of one after the other
        if pool is None and waiting and workers > 1 and len(unchanged) >= OVERLAP_MIN_CACHED:
            start_pool()
        if pool is None and not waiting:
            # nothing to parse but what the index calls unchanged: a warm run, whose warm worker pool
            # (imports on another core since the CLI started) would only spend CPU until the exit
            warmpool.discard()
        if pool is not None:
            hand_over()
        for plan in unchanged:
            if cached(plan):
                continue
            source = read_source(plan.ref)   # known from the index but not cached: read it now
            if isinstance(source, Skipped):
                skipped.append(source)
                continue
            if source.digest != plan.digest:
                plan.digest = source.digest
                plan.check_ids, plan.cli, plan.spared_ids = planner.relevance(plan.ref.rel, source.text)
            plan.text = source.text
            schedule(plan)
        if pool is not None:
            hand_over()
            for future in as_completed(running):
                for plan, result in zip(running[future], future.result()):
                    finished(plan, result)
        else:
            for plan, job in waiting:
                finished(plan, scan.scan_job(job))
    finally:
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
    # the report's models are imported only now, while nothing waits on this process: before the workers
    # were busy, they were start-up time on the CLI's critical path
    from leveraudit.report.model import CheckResult, Diagnostic, ItemResult, Report, Summary

    stats.skipped = len(skipped)
    index.save()
    stats.parsed = len(todo)
    stats.functions = sum(results[p.ref.rel].get("analysed", 0) for p in todo if p.ref.rel in results)
    stats.left_out = sum(results[p.ref.rel].get("left_out", 0) for p in todo if p.ref.rel in results)

    diagnostics = [Diagnostic(path=s.rel, line=0, column=0, kind="skipped", message=s.reason) for s in skipped]
    cli: list[CliOption] = []
    facts: dict[str, list[dict]] = {check_id: [] for check_id in checks_by_id}
    unparsable: dict[str, list[str]] = {check_id: [] for check_id in checks_by_id}
    check_errors: dict[str, list[str]] = {check_id: [] for check_id in checks_by_id}
    # a file that could not be read but whose bytes hold what a check looks for leaves that check undecided
    for source in skipped:
        raw = read_raw_text(root / source.rel)
        if raw is None:
            continue
        ids, _, spared = planner.relevance(source.rel, raw)
        for check_id in ids + spared:
            unparsable[check_id].append((source.rel, f"{source.rel} could not be analysed ({source.reason})"))
    inline: dict[str, list[dict]] = {}
    known_ids = {item.id for item in spec.items} | set(checks_by_id)
    for plan in plans:
        output = results.get(plan.ref.rel)
        if output is None:
            continue
        if "error" in output:
            error = output["error"]
            kind = error.get("kind", "syntax-error")
            diagnostics.append(Diagnostic(path=plan.ref.rel, line=error["line"], column=error["column"],
                                          kind=kind, message=error["message"]))
            why = "does not parse" if kind == "syntax-error" else "took too long to analyse"
            for check_id in plan.check_ids + plan.spared_ids:
                unparsable[check_id].append((plan.ref.rel, f"{plan.ref.rel}:{error['line']}:{error['column']} {why}"))
            continue
        if output.get("suppressions"):
            inline[plan.ref.rel] = output["suppressions"]
            for suppression in output["suppressions"]:
                if not suppression["reason"]:
                    diagnostics.append(Diagnostic(path=plan.ref.rel, line=suppression["line"], column=1,
                                                  kind="suppression-without-reason",
                                                  message=f"leveraudit: ignore[{', '.join(suppression['ids'])}] gives no reason"))
                for unknown in [i for i in suppression["ids"] if i not in known_ids]:
                    close = difflib.get_close_matches(unknown, sorted(known_ids), n=1, cutoff=0.6)
                    hint = f"; did you mean {close[0]!r}?" if close else ""
                    diagnostics.append(Diagnostic(path=plan.ref.rel, line=suppression["line"], column=1,
                                                  kind="suppression-unknown-id",
                                                  message=f"leveraudit: ignore[{unknown}] names no item or check "
                                                          f"of the spec, so it suppresses nothing{hint}"))
        for check_id in plan.check_ids:
            facts[check_id].extend(output["facts"].get(check_id, []))
            if check_id in output.get("check_errors", {}):
                check_errors[check_id].append(output["check_errors"][check_id])
        cli.extend(CliOption.from_json(o) for o in output.get("cli", []))
    context = Context(cli=sorted(cli, key=lambda o: (o.path, o.line, o.dest)), surface=Surface(root, spec.exclude, programs, cache_dir))

    scope = None
    if spec.programs:
        scope = compute_scope(spec.programs, discovery.files, cache_dir)
        for name, globs in sorted(scope.unmatched.items()):
            if not scope.entries.get(name):
                diagnostics.append(Diagnostic(path="", line=0, column=0, kind="program",
                                              message=f"program `{name}`: no file matches its entries {', '.join(globs)}"))
    references = References(root, {ref.rel: ref for ref in discovery.files}) if scope is not None else None
    waivers = {waiver.id: waiver.reason for waiver in spec.waive}
    items = []
    for item in spec.items:
        check_results = []
        in_scope = None
        empty = []
        if scope is not None and item.programs:
            in_scope = scope.union(item.programs)
            empty = [name for name in item.programs if not scope.entries.get(name)]
        for index_in_item, check in enumerate(item.checks):
            check_id = item.check_id(index_in_item)
            if empty:
                outcome = Outcome(ERROR, L(f"cannot be decided: program {', '.join(f'`{n}`' for n in empty)} matches no file",
                                           f"无法判定：程序 {', '.join(f'`{n}`' for n in empty)} 没有匹配的文件"))
                notes = []
            elif in_scope is None or isinstance(KINDS[check.kind], SurfaceKind):
                outcome = _evaluate(check, facts[check_id], context, unparsable[check_id], check_errors[check_id])
                notes = []
            else:
                outcome, notes = _evaluate_scoped(check, facts[check_id], context, in_scope, unparsable[check_id],
                                                  check_errors[check_id], references)
            for evidence in outcome.evidence:
                evidence.fingerprint = evidence_fingerprint(check_id, evidence.path, evidence.code)
            check_results.append(CheckResult(
                id=check_id, kind=check.kind, level=check.level, status=outcome.status,
                message=outcome.message, title=check.title.model_dump() if check.title else None,
                note=check.message.model_dump() if check.message and outcome.status != PASS else None,
                evidence=sorted(outcome.evidence, key=lambda e: (e.path, e.line, e.message["en"])), notes=notes,
                spec_line=spec.check_line(check_id)))
        apply_suppressions(item, check_results, inline, waivers)
        items.append(ItemResult(
            id=item.id, title=item.title.model_dump(), priority=item.priority,
            status=item_status([c.status for c in check_results if c.level == "required"]),
            requirement=item.requirement.model_dump() if item.requirement else None,
            fix=item.fix.model_dump() if item.fix else None, checks=check_results))
    diagnostics.sort(key=lambda d: (d.path, d.line, d.column, d.kind))
    report = Report(spec=spec_path, spec_title=spec.title.model_dump(), lang=spec.lang,
                    plan=spec.plan.model_dump() if spec.plan else None, root=str(root),
                    summary=Summary.of(items), items=items, diagnostics=diagnostics,
                    files_scanned=len(discovery.files), files_parsed=len(plans))
    return report, stats


def _evaluate(check, facts, context, unparsable, errors) -> Outcome:
    if errors:
        return Outcome(ERROR, L(f"check cannot run: {errors[0]}", f"检查无法执行：{errors[0]}"))
    outcome = KINDS[check.kind].evaluate(check, facts, context)
    if outcome.status != PASS and unparsable:
        where = "; ".join(description for _, description in unparsable[:3])
        return Outcome(ERROR, L(f"cannot be decided: {where} ({outcome.message['en']})",
                                f"无法判定：{where}（{outcome.message['zh']}）"), outcome.evidence)
    return outcome


class References:
    """Whether a program refers to a helper function at all (a call, a callback, an import): a
    word-boundary search of the program's files, so any mention counts and nothing is missed."""

    def __init__(self, root: Path, refs: dict[str, FileRef]) -> None:
        self.refs = refs
        self.texts: dict[str, str] = {}
        self.answers: dict[tuple[str, frozenset], bool] = {}
        self.console = _console_script_functions(root)

    def _text(self, rel: str) -> str:
        if rel not in self.texts:
            source = read_source(self.refs[rel]) if rel in self.refs else None
            self.texts[rel] = source.text if source is not None and not isinstance(source, Skipped) else ""
        return self.texts[rel]

    def referenced(self, name: str, files: set[str]) -> bool:
        key = (name, frozenset(files))
        if key not in self.answers:
            word = re.compile(rf"(?<!\w)(?:def\s+)?{re.escape(name)}\b")
            uses = sum(1 for rel in files for m in word.finditer(self._text(rel)) if not m.group(0).startswith("def"))
            self.answers[key] = uses > 0 or name in self.console
        return self.answers[key]


def _console_script_functions(root: Path) -> set[str]:
    text = read_tree_config(root / "pyproject.toml")
    if text is None:
        return set()
    return set(re.findall(r"=\s*[\"'][\w.]+:(\w+)[\"']", text))


def _evaluate_scoped(check, facts, context, in_scope: set[str], unparsable, errors, references=None):
    """Decide from the item's programs only; what matches elsewhere becomes notes, and so does what
    sits in a helper function that nothing in the program refers to."""
    inside = [f for f in facts if f["path"] in in_scope]
    outside = [f for f in facts if f["path"] not in in_scope]
    if references is not None:
        unused = [f for f in inside if f.get("owner") and not references.referenced(f["owner"], in_scope)]
        if unused:
            inside = [f for f in inside if f not in unused]
            outside += unused
    cli_in = [o for o in context.cli if o.path in in_scope]
    cli_out = [o for o in context.cli if o.path not in in_scope]
    scoped = Context(cli=cli_in, surface=context.surface)
    outcome = _evaluate(check, inside, scoped, [u for u in unparsable if u[0] in in_scope], errors)
    if not outside and not (KINDS[check.kind].needs_cli and cli_out):
        return outcome, []
    other = KINDS[check.kind].evaluate(check, outside, Context(cli=cli_out, surface=context.surface))
    if not other.evidence:
        return outcome, []
    files = sorted({e.path for e in other.evidence})
    disagree = [e for e in other.evidence if e.status != (PASS if outcome.status == PASS else FAIL)]
    listed = ", ".join(f"{e.path}:{e.line}" for e in (disagree or other.evidence)[:3])
    what = f"{len(disagree)} disagree" if disagree else "all agree"
    what_zh = f"其中 {len(disagree)} 处结论不同" if disagree else "结论一致"
    return outcome, [L(f"outside the item's programs or in functions they never use (not counted): "
                       f"{len(other.evidence)} place(s) in {len(files)} file(s); {what}: {listed}",
                       f"在该项的程序之外或在程序从不调用的函数中（不计入结论）：{len(files)} 个文件中 "
                       f"{len(other.evidence)} 处；{what_zh}：{listed}")]


def evidence_fingerprint(check_id: str, path: str, code: str) -> str:
    """Check id, path and matched code, never the line number: baselines survive unrelated edits."""
    return hashlib.sha256(f"{check_id}\0{path}\0{' '.join(code.split())}".encode()).hexdigest()[:24]


def item_status(required: list[str]) -> str:
    if all(s in (PASS, SUPPRESSED) for s in required):
        return SUPPRESSED if SUPPRESSED in required else PASS
    if any(s == ERROR for s in required):
        return ERROR
    if all(s == FAIL for s in required):
        return FAIL
    required = [PASS if s == SUPPRESSED else s for s in required]
    return PARTIAL




def _cache_key(plan: _Plan) -> str:
    # the path matters too: `files:` globs narrow checks by path
    return hashlib.sha256(f"{plan.ref.rel}\0{plan.digest}".encode()).hexdigest()
