"""`leveraudit`: check a codebase against a plan's spec; exit code gates pull requests.

Exit codes: 0 the gate passes, 1 the gate fails, 2 the spec, root, arguments or a file are unusable,
3 internal error.
"""

from __future__ import annotations

import io
import json
import os
import sys
from enum import Enum
from pathlib import Path
from typing import Annotated, Optional

# the spec models need no pydantic plugins (validation telemetry), and looking them up scans the entry
# points of every installed distribution on each run (20-50 ms); a user's explicit setting wins
os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")

import typer  # noqa: E402

from leveraudit import __version__, replay  # noqa: E402
from leveraudit.cache import default_cache_dir  # noqa: E402
from leveraudit.spec import CHECK_KINDS, Spec, SpecError, load_spec  # noqa: E402

# accepted by every subcommand; main() reads it: an internal error shows its traceback only when asked
Verbose = Annotated[bool, typer.Option("--verbose", "-v", help="On an internal error, show the traceback.")]

app = typer.Typer(
    name="leveraudit",
    help="Audit code against a plan's requirements (a YAML spec), statically with libcst.\n\n"
         "Exit codes: 0 gate passes · 1 gate fails · 2 unusable spec, root, arguments or files · 3 internal "
         "error.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    # plain click help: wrapped to the terminal (at most 80 columns), flags never truncated, no
    # `<bool>` metavars on switches; usage errors are short lines too
    rich_markup_mode=None,
    context_settings={"max_content_width": 80, "help_option_names": ["-h", "--help"]},
)


class Format(str, Enum):
    terminal = "terminal"
    md = "md"
    summary = "summary"
    json = "json"
    sarif = "sarif"
    junit = "junit"
    github = "github"


class FailOn(str, Enum):
    fail = "fail"
    partial = "partial"
    never = "never"


class Lang(str, Enum):
    zh = "zh"
    en = "en"


def Console(**options):  # noqa: N802 - stands for rich's Console, imported on first use
    """rich's Console: imported only by what draws on a terminal (JSON, Markdown, SARIF... never need it)."""
    from rich.console import Console as RichConsole

    return RichConsole(**options)


def _die(message: str) -> None:
    typer.echo(f"leveraudit: error: {message}", err=True)
    raise typer.Exit(2)


def _load(spec: Path) -> Spec:
    try:
        return load_spec(spec)
    except SpecError as exc:
        _die(str(exc))
        raise  # unreachable


def _default_spec(root: Path) -> Path:
    candidate = root / "rules" / "v3.yaml"
    if candidate.is_file():
        return candidate
    _die(f"no --spec given and {candidate} does not exist")
    raise AssertionError


@app.command()
def check(
    root: Annotated[Path, typer.Argument(help="Root of the code to audit.")] = Path("."),
    spec: Annotated[Optional[Path], typer.Option("--spec", "-s", help="The YAML spec (default: ROOT/rules/v3.yaml).")] = None,
    format: Annotated[Format, typer.Option("--format", "-f", help="Output format.")] = Format.terminal,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Write the report here instead of stdout.")] = None,
    lang: Annotated[Optional[Lang], typer.Option("--lang", help="Report language (default: the spec's `lang`).")] = None,
    fail_on: Annotated[FailOn, typer.Option("--fail-on", help="Which item status fails the gate (exit 1).")] = FailOn.fail,
    cache_dir: Annotated[Optional[Path], typer.Option("--cache-dir", help="Where per-file facts are cached (default: the user cache).")] = None,
    no_cache: Annotated[bool, typer.Option("--no-cache", help="Neither read nor write any cache (facts, the last run).")] = False,
    jobs: Annotated[Optional[int], typer.Option("--jobs", "-j", min=1, help="Parser processes (default: CPU count).")] = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show passing evidence too, and what was read, parsed and analysed.")] = False,
    baseline: Annotated[Optional[Path], typer.Option("--baseline", help="A JSON report to compare with: fail only on what got worse.")] = None,
    changed_since: Annotated[Optional[str], typer.Option("--changed-since", help="Show evidence only in files changed since this git revision (items are still evaluated whole).")] = None,
) -> None:
    """Evaluate every check of the spec over ROOT and render the progress report."""
    from leveraudit.engine import run_audit
    from leveraudit.atomic import write_atomically
    from leveraudit.gate import GateError, changed_files, limit_to_changed, load_baseline, regressions
    from leveraudit.report import TEXT_RENDERERS

    if not root.exists():
        _die(f"root {root} does not exist")
    if not root.is_dir():
        _die(f"root {root} is not a directory")
    spec_path = spec if spec is not None else _default_spec(root)
    loaded = _load(spec_path)
    chosen_lang = (lang.value if lang else loaded.lang)
    cache = None if no_cache else (cache_dir or default_cache_dir())
    try:
        base = load_baseline(baseline) if baseline else None
        changed = changed_files(root, changed_since) if changed_since else None
    except GateError as exc:
        _die(str(exc))
    report, stats = _run_with_progress(run_audit, loaded, root, str(spec_path), cache, jobs)
    if report.files_scanned == 0:  # a wall of ❌ over nothing would look like a verdict
        _die(f"no file under {root} matches the spec's include globs ({', '.join(loaded.include)}) "
             f"once exclude and .gitignore are applied")
    if base is not None:
        report.baseline = {"path": str(baseline), "regressions": regressions(report, base)}
    if changed is not None:
        limit_to_changed(report, changed)
        report.changed_since = changed_since
    if format is Format.terminal:
        from leveraudit.report.terminal import render_terminal   # rich: only for the terminal

        buffer = io.StringIO() if output else None
        console = Console(file=buffer, width=120 if output else None)
        with console.capture() as captured:   # rendered for stdout's terminal, written below as one text
            render_terminal(report, chosen_lang, console, verbose=verbose)
        text = captured.get()
    else:
        text = TEXT_RENDERERS[format.value](report, chosen_lang)
    told = ""   # what goes to stderr, replayed with the report by an identical next run
    if output:  # atomically: a report a CI step uploads is never half-written
        write_atomically(output, text.encode("utf-8"))
        told = f"wrote {output} ({report.summary.pass_}/{report.summary.items} items pass)\n"
        sys.stderr.write(told)
    else:
        sys.stdout.write(text)
    code = 1 if report.gate_fails(fail_on.value) else 0
    if not verbose and base is None and changed is None:   # what `replay.enabled` reads off argv, parsed
        replay.store(cache_dir=cache, text=text, output=output, stderr=told, code=code)
    if verbose:
        typer.echo(f"leveraudit: {stats.excluded} path(s) left out by exclude, {stats.ignored} by .gitignore, "
                   f"{stats.skipped} skipped (see the diagnostics)", err=True)
        where = (f"on {stats.workers} worker processes {'from the warm pool' if stats.warm_pool else 'started by the audit'}"
                 if stats.workers else "in this process")
        typer.echo(f"leveraudit: {stats.files} files, {stats.read} read, {stats.parsed} parsed "
                   f"({stats.cached} from the cache; {stats.left_out} definitions no check needed left out) {where}, "
                   f"{stats.functions} functions analysed (control and data flow, only where a check "
                   f"needed it)", err=True)
    if report.baseline is not None:
        found = report.baseline["regressions"]
        typer.echo(f"baseline {baseline}: {len(found)} regression(s)" + "".join(
            f"\n  {r['kind']} {r['id']}: " + (f"{r['was']} -> {r['now']}" if "was" in r else f"new finding at {r['path']}:{r['line']}")
            for r in found), err=True)
    raise typer.Exit(code)


def _run_with_progress(run_audit, spec, root, spec_path, cache, jobs):
    if not sys.stderr.isatty():   # what rich's is_terminal asks first; no bar, and no rich, off a terminal
        return run_audit(spec, root, spec_path=spec_path, cache_dir=cache, jobs=jobs)
    stderr = Console(stderr=True)
    if not stderr.is_terminal:
        return run_audit(spec, root, spec_path=spec_path, cache_dir=cache, jobs=jobs)
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("parsing"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=stderr, transient=True) as progress:
        task = progress.add_task("parse", total=None)
        return run_audit(spec, root, spec_path=spec_path, cache_dir=cache, jobs=jobs,
                         progress=lambda: progress.advance(task))


@app.command()
def explain(
    target: Annotated[str, typer.Argument(help="An item id (3.3.2), a check id (3.1/grpo-guard) or a check kind (guard).")],
    spec: Annotated[Optional[Path], typer.Option("--spec", "-s", help="The YAML spec (default: ./rules/v3.yaml).")] = None,
    lang: Annotated[Optional[Lang], typer.Option("--lang", help="Language of the item texts.")] = None,
    verbose: Verbose = False,
) -> None:
    """Show what an item requires and how each of its checks decides, or document a check kind."""
    from leveraudit.checks import KINDS

    console = Console()
    if target in CHECK_KINDS:
        module = sys.modules[type(KINDS[target]).__module__]
        console.print(f"[bold]{target}[/bold]\n")
        console.print((module.__doc__ or "").strip(), markup=False, soft_wrap=True)
        console.print("\n[bold]parameters[/bold]")
        for name, field in CHECK_KINDS[target].model_fields.items():
            shown = field.alias or name
            console.print(f"  {shown}: {field.description or ''} (default: {field.default!r})"
                          if not field.is_required() else f"  {shown} (required): {field.description or ''}")
        return
    loaded = _load(spec or Path("rules/v3.yaml"))
    chosen = lang.value if lang else loaded.lang
    for item in loaded.items:
        ids = [item.check_id(i) for i in range(len(item.checks))]
        if target != item.id and target not in ids:
            continue
        console.print(f"[bold]{item.id} {item.title.get(chosen)}[/bold]  ({item.priority})\n")
        if item.requirement:
            console.print(item.requirement.get(chosen).strip() + "\n", markup=False)
        for check_id, check in zip(ids, item.checks):
            if target != item.id and target != check_id:
                continue
            params = check.model_dump(exclude_none=True, by_alias=True, exclude={"id", "kind", "level", "title", "message"})
            console.print(f"[bold]{check_id}[/bold] [dim]{check.kind}, {check.level}[/dim]")
            if check.title:
                console.print("  " + check.title.get(chosen))
            console.print("  " + json.dumps(params, ensure_ascii=False), markup=False)
        if item.fix:
            console.print("\n[bold]fix[/bold]")
            console.print(item.fix.get(chosen).strip(), markup=False)
        return
    _die(f"{target!r} is neither an item, a check id of the spec, nor a check kind ({', '.join(sorted(CHECK_KINDS))})")


@app.command()
def fix(
    root: Annotated[Path, typer.Argument(help="Root of the code to fix.")] = Path("."),
    spec: Annotated[Optional[Path], typer.Option("--spec", "-s", help="The YAML spec (default: ROOT/rules/v3.yaml).")] = None,
    diff: Annotated[bool, typer.Option("--diff", help="Print the unified diff instead of writing the files.")] = False,
    verbose: Verbose = False,
) -> None:
    """Apply the spec's codemods (`autofix` templates) to failing checks whose gap is mechanical."""
    from leveraudit.engine import run_audit
    from leveraudit.fix import FixError, apply_fixes

    if not root.is_dir():
        _die(f"root {root} is not a directory")
    spec_path = spec if spec is not None else _default_spec(root)
    loaded = _load(spec_path)
    # the audit that finds the failing checks reuses the pre-filter, the cache and the worker pool
    report, _ = run_audit(loaded, root, spec_path=str(spec_path), cache_dir=default_cache_dir())
    try:
        result = apply_fixes(loaded, root, report, write=not diff)
    except FixError as exc:
        _die(f"fix: {exc}")
    if diff:
        sys.stdout.write(result.diff())
    for check_id in result.fixed:
        typer.echo(f"{'would fix' if diff else 'fixed'} {check_id}", err=True)
    for check_id, why in result.unfixable:
        typer.echo(f"not fixed {check_id}: {why}", err=True)
    for rel in sorted(result.changed):
        typer.echo(f"{'would change' if diff else 'changed'} {rel}", err=True)
    typer.echo(f"{len(result.changed)} file(s) {'would change' if diff else 'changed'}", err=True)


class SurfaceFormat(str, Enum):
    table = "table"
    json = "json"


@app.command()
def surface(
    root: Annotated[Path, typer.Argument(help="Root of the code.")] = Path("."),
    format: Annotated[SurfaceFormat, typer.Option("--format", "-f", help="table or json.")] = SurfaceFormat.table,
    exclude: Annotated[Optional[list[str]], typer.Option("--exclude", help="Globs to skip (repeatable); .gitignore is honoured.")] = None,
    verbose: Verbose = False,
) -> None:
    """List every program's options (argparse, typer, click): dest, flags, type, effective default, help, path:line."""
    from rich.table import Table

    from leveraudit.surface import Surface

    if not root.is_dir():
        _die(f"root {root} is not a directory")
    options = sorted((o for program in Surface(root, exclude or [".venv/**", "venv/**"]).all_programs()
                      for o in program.options), key=lambda o: (o.path, o.line, o.dest))
    if format is SurfaceFormat.json:
        typer.echo(json.dumps([{k: o.to_json()[k] for k in ("path", "line", "program", "command", "framework", "dest",
                                                             "flags", "action", "type", "default", "default_code",
                                                             "default_line", "required", "help")}
                               for o in options], ensure_ascii=False, indent=2, default=str))
        return
    console = Console()
    if not console.is_terminal:
        console = Console(width=160)
    programs: dict[str, list] = {}
    for o in options:
        programs.setdefault(o.path + (f"  [{o.command}]" if o.command else ""), []).append(o)
    for name, members in programs.items():
        table = Table(title=name, title_justify="left", title_style="bold")
        for column, wrap in (("line", False), ("dest", False), ("flags", False), ("type", False), ("default", False),
                             ("help", True)):
            table.add_column(column, no_wrap=not wrap, overflow="fold")
        for o in members:
            table.add_row(str(o.default_line or o.line), o.dest, ", ".join(o.flags), o.type or o.action or "",
                          o.default_code, o.help or "")
        console.print(table)


@app.command("test")
def test_fixtures(
    fixtures_dir: Annotated[Path, typer.Argument(help="A folder of fixture trees (one audited root per sub-folder) "
                                                      "and *.variants.yaml files (edits of a base tree).")],
    spec: Annotated[Path, typer.Option("--spec", "-s", help="The YAML spec under test.")] = Path("rules/v3.yaml"),
    verbose: Verbose = False,
) -> None:
    """Test a spec against fixture trees with expected verdicts (expect.yaml or `# expect: fail ID`)."""
    from leveraudit.ruletest import run_fixtures

    if not fixtures_dir.is_dir():
        _die(f"{fixtures_dir} is not a directory")
    loaded = _load(spec)
    results = run_fixtures(loaded, fixtures_dir)
    if not results:
        _die(f"{fixtures_dir} has no fixture folders and no *.variants.yaml files")
    for result in results:
        if result.ok:
            typer.echo(f"ok    {result.name} ({result.expected} expectations)")
        else:
            typer.echo(f"FAIL  {result.name}: {result.error or ''}")
            for mismatch in result.mismatches:
                typer.echo(f"        {mismatch}")
    passed = sum(r.ok for r in results)
    typer.echo(f"{passed} passed, {len(results) - passed} failed")
    raise typer.Exit(0 if passed == len(results) else 1)


@app.command()
def init(
    from_plan: Annotated[Path, typer.Option("--from-plan", help="The plan (Markdown) to draft the spec from.")],
    lang: Annotated[Optional[Lang], typer.Option("--lang", help="Report language of the draft (default: the plan's).")] = None,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Write the draft here (default: stdout).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing --output file.")] = False,
    check_root: Annotated[Optional[Path], typer.Option("--check", help="Run the draft over this root at once and print the report.")] = None,
    verbose: Verbose = False,
) -> None:
    """Draft a spec from a plan: numbered sections become items, code and prose become checks.

    Every check cites its plan line; `# review:` marks what a person must decide, and a closing
    summary lists what produced no check. With --check the exit code is the gate's (0 or 1).
    """
    from leveraudit.atomic import write_atomically
    from leveraudit.plan import PlanError, draft_from_plan, render_draft
    from leveraudit.plan.draft import MAX_PLAN_BYTES
    from leveraudit.spec.load import parse_spec
    from leveraudit.userfiles import UserFileError, read_user_file

    if output is not None and output.exists() and not force:
        _die(f"{output} exists; pass --force to overwrite it")
    if check_root is not None and not check_root.is_dir():
        _die(f"--check root {check_root} is not a directory")
    try:
        text = read_user_file(from_plan, "plan", limit=MAX_PLAN_BYTES)
        draft = draft_from_plan(text, str(from_plan), lang.value if lang else None)
    except (UserFileError, PlanError) as exc:
        _die(str(exc))
    rendered = render_draft(draft)
    try:  # the draft must load as it is; a drafter bug is an internal error, not a broken file handed over
        spec = parse_spec(rendered, "<draft>")
    except SpecError as exc:
        raise RuntimeError(f"the draft does not load: {exc}") from None
    if output is not None:
        write_atomically(output, rendered.encode("utf-8"))
    else:
        sys.stdout.write(rendered)
    checks = sum(len(item.checks) for item in draft.items)
    reviews = rendered.count("# review:")
    typer.echo(f"drafted {len(draft.items)} item(s), {checks} check(s); {reviews} line(s) marked `# review:`"
               + (f"; wrote {output}" if output else ""), err=True)
    if check_root is None:
        return
    from leveraudit.engine import run_audit
    from leveraudit.report.terminal import render_terminal

    report, _ = run_audit(spec, check_root, spec_path=str(output or "<draft>"), cache_dir=default_cache_dir())
    # the report goes beside the draft, never into it: with the draft on stdout, it goes to stderr
    render_terminal(report, spec.lang, Console(stderr=output is None))
    raise typer.Exit(1 if report.gate_fails("fail") else 0)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"leveraudit {__version__}")
        raise typer.Exit(0)


@app.callback()
def _options(
    version: Annotated[bool, typer.Option("--version", help="Print the version and exit.", callback=_print_version,
                                          is_eager=True)] = False,
) -> None:
    """Audit code against a plan's requirements (a YAML spec), statically with libcst."""


@app.command()
def schema(verbose: Verbose = False) -> None:
    """Print the JSON Schema of the spec language (for editor validation)."""
    document = Spec.model_json_schema(by_alias=True)
    document["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    document["title"] = "leveraudit spec"
    typer.echo(json.dumps(document, indent=2, ensure_ascii=False, sort_keys=True))


@app.command()
def version(verbose: Verbose = False) -> None:
    """Print the version."""
    typer.echo(__version__)


def main() -> None:
    """Exit codes: 0 ok · 1 gate failed (for `test`: an expectation failed) · 2 unusable input, including
    files that cannot be read or written · 3 internal error (the traceback only with -v / --verbose)."""
    try:
        app()
    except (KeyboardInterrupt, SystemExit) as exc:
        # typer turns an interrupt inside a command into a silent exit 130; one outside it arrives as is
        if isinstance(exc, SystemExit) and exc.code != 130:
            raise
        typer.echo("leveraudit: interrupted", err=True)
        sys.exit(130)
    except OSError as exc:  # a missing folder for -o, a full disk, a permission: the user's to fix
        where = f" {exc.filename}" if getattr(exc, "filename", None) else ""
        typer.echo(f"leveraudit: error: cannot use{where}: {exc.strerror or exc}", err=True)
        sys.exit(2)
    except Exception as exc:  # noqa: BLE001 - one line, never a traceback, unless asked for
        if "-v" in sys.argv or "--verbose" in sys.argv or os.environ.get("LEVERAUDIT_DEBUG"):
            raise
        typer.echo(f"leveraudit: internal error: {type(exc).__name__}: {exc} (run with -v for the traceback)", err=True)
        sys.exit(3)


if __name__ == "__main__":
    from leveraudit.launch import run

    run()
