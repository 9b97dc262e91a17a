"""What every check kind shares: facts, outcomes, localized messages, aggregation.

A kind is one small class with three steps, so per-file work can be cached and parallelised:
`relevant` (a cheap text test deciding whether a file must be parsed), `scan` (per parsed file,
JSON-serialisable facts) and `evaluate` (all facts of the tree -> an outcome with evidence).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from typing import Any, ClassVar

from leveraudit.extract.cli import CliOption
from leveraudit.extract.module import ParsedModule

PASS, FAIL, PARTIAL, ERROR = "pass", "fail", "partial", "error"


def L(en: str, zh: str | None = None) -> dict[str, str]:
    """A message in both report languages."""
    return {"en": en, "zh": zh if zh is not None else en}


@dataclass
class Evidence:
    path: str
    line: int
    end_line: int
    status: str  # pass | fail | suppressed
    message: dict[str, str]
    code: str = ""
    fingerprint: str = ""  # check id + path + matched code, never the line: survives unrelated edits
    suppression: dict | None = None

    def to_json(self) -> dict:
        return dict(self.__dict__)


@dataclass
class Outcome:
    status: str
    message: dict[str, str]
    evidence: list[Evidence] = field(default_factory=list)


@dataclass
class Context:
    """Tree-wide facts every check may consult."""

    cli: list[CliOption]
    parse_failures: list[Any] = field(default_factory=list)
    surface: Any = None  # leveraudit.surface.Surface, built lazily for config-surface kinds

    def options(self, dest: str, files=None) -> list[CliOption]:
        found = [o for o in self.cli if o.dest == dest]
        if files is not None:
            found = [o for o in found if files.matches(o.path)]
        return found


def evidence_for(module: ParsedModule, node, status: str, message: dict[str, str]) -> dict:
    start, end = module.lines(node)
    fact = {"path": module.rel, "line": start, "end_line": end, "status": status, "message": message,
            "code": module.snippet(node)}
    owner = module.helper_owner(node)
    if owner:
        fact["owner"] = owner  # a plain module-level function: counts only if the program refers to it
    return fact


def to_evidence(fact: dict) -> Evidence:
    return Evidence(fact["path"], fact["line"], fact.get("end_line", fact["line"]), fact["status"], fact["message"],
                    fact.get("code", ""))


def any_site_passes(facts: list[dict], nothing_found: dict[str, str]) -> Outcome:
    """For checks satisfied by one good site (a guard, a filter, a branch): pass showing the passing
    sites, else fail showing every near miss, else fail with `nothing_found`."""
    evidence = [to_evidence(f) for f in facts]
    passing = [e for e in evidence if e.status == PASS]
    if passing:
        return Outcome(PASS, passing[0].message, passing)
    if evidence:
        return Outcome(FAIL, evidence[0].message, evidence)
    return Outcome(FAIL, nothing_found)


def aggregate(statuses: list[str]) -> str:
    if not statuses:
        return FAIL
    if all(s == PASS for s in statuses):
        return PASS
    if any(s == PASS for s in statuses) or any(s == PARTIAL for s in statuses):
        return PARTIAL
    return FAIL


@functools.lru_cache(maxsize=4096)   # asked per file and per definition of the same few globs
def names_in_glob(glob: str, shortest: int = 3) -> tuple[str, ...]:
    """Literal runs (`shortest`+ characters) of a qualified-name glob that a matching file must contain."""
    runs = []
    for part in glob.split("."):
        runs += [run for run in re.split(r"\*|\?|\[[^\]]*\]", part) if len(run) >= shortest]
    return tuple(runs)


def text_has_all(text: str, words) -> bool:
    return all(word in text for word in words)


_PLAIN_NAME = re.compile(r"[^\W\d]\w*\Z")


@functools.lru_cache(maxsize=1024)
def _def_of(glob: str) -> re.Pattern | None:
    """`def <name>` for a qualified-name glob whose last part is a plain name (the def's own name must
    then be it); None when that part has wildcards."""
    name = glob.rsplit(".", 1)[-1]
    # no `\b` before `def`: a literal first lets the engine skip to it (and matching more is safe)
    return re.compile(rf"def[\s\\]+{name}(?!\w)") if _PLAIN_NAME.match(name) else None


def may_define(text: str, glob: str) -> bool:
    """A necessary condition for `text` to hold a def whose qualified name matches `glob`: each literal
    run of the glob, and `def <name>` itself when the glob's last part is a plain name (a method that
    only calls `super().__init__` defines no `__init__`)."""
    if not text_has_all(text, names_in_glob(glob)):
        return False
    definition = _def_of(glob)
    return definition is None or definition.search(text) is not None


_IDENT = re.compile(r"(?<![$\w])([A-Za-z_][A-Za-z0-9_]*)")
_KEYWORDS = {"and", "or", "not", "in", "is", "if", "else", "for", "while", "return", "raise", "continue", "break",
             "def", "class", "lambda", "None", "True", "False", "pass", "with", "as", "from", "import", "async",
             "await", "yield", "elif", "try", "except", "finally", "del", "global", "nonlocal", "assert"}


def has_strings(*patterns: str | None) -> bool:
    """Whether a pattern holds a string literal (its words may then occur only inside strings)."""
    return any(p is not None and ("'" in p or '"' in p) for p in patterns)


@functools.lru_cache(maxsize=4096)
def pattern_words(pattern: str) -> frozenset[str]:
    """Identifiers and string contents a pattern needs a file to contain."""
    stripped = re.sub(r"\$[A-Za-z_][A-Za-z0-9_]*", " ", pattern)
    return pattern_names(pattern) | {s for _, s in re.findall(r"(['\"])(.*?)\1", stripped) if s}


@functools.lru_cache(maxsize=4096)
def pattern_names(pattern: str) -> frozenset[str]:
    """The identifiers of a pattern (not its string contents): code it matches holds each as a whole name."""
    stripped = re.sub(r"\$[A-Za-z_][A-Za-z0-9_]*", " ", pattern)
    return frozenset(w for w in _IDENT.findall(re.sub(r"(['\"]).*?\1", " ", stripped)) if w not in _KEYWORDS)


def _has_name(text: str, name: str) -> bool:
    # `str.find` and a look at the neighbours: a regex with a lookbehind first has no literal prefix
    # for the engine to skip to, and scanned four times slower
    start, size = text.find(name), len(name)
    while start >= 0:
        before, after = text[start - 1:start], text[start + size:start + size + 1]
        if not (before.isalnum() or before == "_") and not (after.isalnum() or after == "_"):
            return True
        start = text.find(name, start + 1)
    return False


def has_names(text: str, names) -> bool:
    """Whether each name occurs in `text` as a whole word (`config`, not only inside `app_config`)."""
    return all(_has_name(text, name) for name in names)


class CheckKind:
    kind: ClassVar[str]
    needs_cli: ClassVar[bool] = False

    def cli_dests(self, check) -> set[str]:
        return set()

    def relevant(self, check, text: str) -> bool:
        raise NotImplementedError

    def identifiers_only(self, check) -> bool:
        """Whether every word `relevant` looks for must occur in code (a name, an attribute, a def), never
        only in a string or a comment: then `relevant` over the file's code alone is an exact second stage."""
        return False

    def segment_relevant(self, check, text: str) -> bool | None:
        """Whether a top-level `def` / `class` with this text can hold one of the check's facts: a
        necessary test, like `relevant`, that lets sparse parsing leave the others out. None (the
        default) when the check reads the module as a whole; its files are then parsed whole.

        It must only ask whether things occur in the text (and / or of such tests), so that more text
        never makes it false: sparse parsing tests a definition with every import alias's meaning
        appended before it looks up which aliases the definition uses (tests/test_sparse.py)."""
        return None

    def splits_classes(self, check) -> bool:
        """Whether `segment_relevant` may also judge a kept class's methods one by one (tested with the
        class's header before each): true for checks whose facts and evidence lie inside one method,
        false for those that read a class whole or report a class itself."""
        return False

    def follows_names(self, check) -> bool:
        """Whether a fact in one definition may depend on another that it names: a helper it calls, a
        method it reaches through `self.`, an attribute another method sets, a base class, an import
        that renames (`module.resolve`). Sparse parsing then also keeps every definition kept code
        names, transitively. False for checks whose facts lie wholly in their own definition's text and
        the module-level statements (always kept), read without resolving names."""
        return True

    def reads_imports(self, check) -> bool:
        """Whether a fact may be an `import` statement itself (a pattern that matches one). Otherwise a
        check sees imports only through the names they bind (`module.resolve`, the data flow), so sparse
        parsing may leave out a module-level import none of whose names the kept code uses."""
        return False

    def scan(self, check, module: ParsedModule) -> list[dict]:
        return []

    def evaluate(self, check, facts: list[dict], ctx: Context) -> Outcome:
        raise NotImplementedError


def describe_value(value: Any) -> str:
    if isinstance(value, str):
        return repr(value)
    return str(value)


def constraint_failures(constraint, value: Any, known: bool, ctx: Context | None = None, program: str | None = None,
                        files=None) -> list[dict[str, str]]:
    """Which parts of a Constraint a statically known value violates, as localized messages."""
    if constraint is None or constraint.is_empty():
        return []
    if not known:
        return [L("the value is not a literal, so it cannot be checked statically", "该值不是字面量，无法静态核对")]
    problems = []
    if constraint.equals is not None and not _same(value, constraint.equals):
        problems.append(L(f"expected {describe_value(constraint.equals)}", f"应为 {describe_value(constraint.equals)}"))
    if constraint.in_ is not None and not any(_same(value, v) for v in constraint.in_):
        problems.append(L(f"expected one of {constraint.in_!r}", f"应为 {constraint.in_!r} 之一"))
    numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
    for name, symbol, test in (("lt", "<", lambda a, b: a < b), ("le", "<=", lambda a, b: a <= b),
                               ("gt", ">", lambda a, b: a > b), ("ge", ">=", lambda a, b: a >= b)):
        bound = getattr(constraint, name)
        if bound is None:
            continue
        shown = _number(bound)
        if not numeric:
            problems.append(L(f"expected a number {symbol} {shown}", f"应为 {symbol} {shown} 的数"))
        elif not test(value, bound):
            problems.append(L(f"expected {symbol} {shown}", f"应 {symbol} {shown}"))
    for name, symbol, test in (("lt_option", "<", lambda a, b: a < b), ("le_option", "<=", lambda a, b: a <= b)):
        other = getattr(constraint, name)
        if other is None or ctx is None:
            continue
        candidates = ctx.options(other, files)
        same_program = [o for o in candidates if o.program == program] or candidates
        if not same_program:
            problems.append(L(f"no option --{other} to compare with", f"没有可比较的参数 --{other}"))
            continue
        reference = same_program[0]
        if not reference.default_known or not isinstance(reference.default, (int, float)):
            problems.append(L(f"--{other} has no literal numeric default", f"--{other} 没有数值字面量默认值"))
        elif not numeric or not test(value, reference.default):
            problems.append(L(f"expected {symbol} --{other} ({reference.default})",
                              f"应 {symbol} --{other}（{reference.default}）"))
    return problems


def join(problems: list[dict[str, str]]) -> dict[str, str]:
    return L("; ".join(p["en"] for p in problems), "；".join(p["zh"] for p in problems))


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    return a == b
