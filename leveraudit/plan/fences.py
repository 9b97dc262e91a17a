"""A plan's Python blocks, parsed with libcst while tolerating pseudo-code.

Plans elide: `def f(..., new: bool = False):`, bodies that are only `...`, a header left without
a body, stray prose lines. Each repair is local and recorded; a line nothing repairs is skipped
and reported, so what the drafter did not read is never silent. Before/after pairs inside one
block (`# 原来：` ... `# 建议修改为：`, `# before:` ... `# after:`) are split here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import libcst as cst

PYTHON = {"python", "py", "python3", "py3", "ipython", "pycon"}
_MAX_BLOCK_LINES = 2000

BEFORE_MARK = re.compile(r"^\s*(?:#\s*)?(原来|原代码|原始|之前|修改前|改前|当前|现在|before|old|current(?:ly)?|was)\b"
                         r"[^:：\n]{0,20}[:：]?\s*$", re.I)
AFTER_MARK = re.compile(r"^\s*(?:#\s*)?(建议修改为|建议改为|修改为|改为|改成|修改后|改后|之后|建议|after|new|proposed|should be|becomes)"
                        r"[^:：\n]{0,20}[:：]?\s*$", re.I)
_ELIDED_PARAM = re.compile(r"(\(\s*(?:self\s*,\s*)?)\.\.\.\s*,\s*")
_ELIDED_LINE = re.compile(r"^\s*\.\.\.\s*,\s*$")


@dataclass
class ParsedBlock:
    module: cst.Module | None
    code: str
    first_line: int                      # plan line of the block's first code line
    skipped: list[tuple[int, str]] = field(default_factory=list)   # (plan line, text) not read
    elided_defs: set[int] = field(default_factory=set)             # block lines of `def f(..., x)`
    error: str = ""

    def plan_line(self, block_line: int) -> int:
        return self.first_line + block_line - 1


def _error_line(exc: cst.ParserSyntaxError) -> int:
    return max(1, int(getattr(exc, "raw_line", 1) or 1))


class ParseBudget:
    """Re-parses libcst may run to repair one plan's pseudo-code, so a hostile plan of many broken blocks
    costs seconds, not minutes. Each block's first parse is free (its cost is bounded by the plan's size),
    so a spent budget never hides a block that parses as written; it only stops repairs, which are listed."""

    def __init__(self, parses: int = 3000, lines: int = 150_000) -> None:
        self.parses = parses
        self.lines = lines

    def spend(self, lines: int) -> bool:
        if self.parses <= 0 or self.lines < lines:
            return False
        self.parses -= 1
        self.lines -= lines
        return True


_CONTINUES = re.compile(r"^(?:else|elif|except|finally|case)\b|^[)\]}]")
_REPAIRS_PER_CHUNK = 8


def _parse(source: str, budget: ParseBudget | None) -> cst.Module | str:
    """The module, or why not ("budget" when the repair budget is spent; None: a free first parse)."""
    if budget is not None and not budget.spend(source.count("\n") + 1):
        return "budget"
    try:
        return cst.parse_module(source)
    except cst.ParserSyntaxError as exc:
        return f"syntax:{_error_line(exc)}"
    except (RecursionError, MemoryError, ValueError) as exc:
        return f"libcst could not parse it ({type(exc).__name__})"


def _chunks(lines: list[str]) -> list[tuple[int, int]]:
    """(start, end) line ranges of top-level statements: a line at indent 0 starts one."""
    starts = [i for i, t in enumerate(lines) if t.strip() and not t[0].isspace() and not _CONTINUES.match(t)]
    if not starts or starts[0] != 0:
        starts = [0] + starts
    return [(a, b) for a, b in zip(starts, starts[1:] + [len(lines)])]


def _repair_chunk(lines: list[str], start: int, end: int, budget: ParseBudget, skipped: list[int]) -> bool:
    """Make lines[start:end] parse on its own, blanking what cannot be read; False when the budget ran out."""
    for _ in range(_REPAIRS_PER_CHUNK):
        chunk = lines[start:end]
        if not any(t.strip() for t in chunk):
            return True
        result = _parse("\n".join(chunk) + "\n", budget)
        if isinstance(result, cst.Module):
            return True
        if result == "budget":
            return False
        last = max(i for i, t in enumerate(chunk) if t.strip())
        if chunk[last].rstrip().endswith(":"):     # a header whose body the plan left out
            lines[start + last] = chunk[last] + " ..."
            continue
        line = int(result.split(":")[1]) - 1 if result.startswith("syntax:") else last
        line = min(max(line, 0), last)
        while line > 0 and not chunk[line].strip():
            line -= 1
        skipped.append(start + line)
        lines[start + line] = ""
    for index in range(start, end):   # still broken: the whole statement is not read
        if lines[index].strip():
            skipped.append(index)
            lines[index] = ""
    return True


def parse_block(code: str, first_line: int, budget: ParseBudget | None = None) -> ParsedBlock:
    from leveraudit.extract.module import too_complex

    budget = budget or ParseBudget()
    lines = code.split("\n")
    block = ParsedBlock(None, code, first_line)
    if len(lines) > _MAX_BLOCK_LINES:
        block.error = f"{len(lines)} lines, more than the {_MAX_BLOCK_LINES} read per block"
        return block
    reason = too_complex(code)    # libcst's native parser crashes on nesting this deep
    if reason is not None:
        block.error = reason
        return block
    for index, text in enumerate(lines):
        if text.lstrip().startswith("def ") and _ELIDED_PARAM.search(text):
            lines[index] = _ELIDED_PARAM.sub(r"\1", text)
            block.elided_defs.add(index + 1)
        elif _ELIDED_LINE.match(text):
            # `...,` alone on a line is valid in a call but not in a `def`'s parameters
            previous = next((back for back in range(index - 1, -1, -1) if lines[back].strip()), None)
            if previous is not None and lines[previous].lstrip().startswith("def "):
                lines[index] = ""
                block.elided_defs.add(previous + 1)
    # common case first: the block parses as it is
    result = _parse("\n".join(lines), None)
    if isinstance(result, cst.Module):
        block.module = result
        return block
    # pseudo-code: read statement by statement, and say what was skipped
    skipped: list[int] = []
    for start, end in _chunks(lines):
        if not _repair_chunk(lines, start, end, budget, skipped):
            block.error = "it does not parse, and the plan's repair budget is spent (too much pseudo-code)"
            return block
    original = code.split("\n")
    block.skipped = [(first_line + i, original[i].strip()) for i in sorted(set(skipped)) if original[i].strip()]
    result = _parse("\n".join(lines), budget)
    if isinstance(result, cst.Module) and any(t.strip() for t in lines):
        block.module = result
    else:
        block.error = "no part of it parses as Python"
    return block


def split_before_after(code: str) -> tuple[str, str] | None:
    """(before, after) when one block holds both, marked by comment lines; else None."""
    lines = code.split("\n")
    before_at = next((i for i, t in enumerate(lines) if t.lstrip().startswith("#") and BEFORE_MARK.match(t)), None)
    if before_at is None:
        return None
    after_at = next((i for i in range(before_at + 1, len(lines))
                     if lines[i].lstrip().startswith("#") and AFTER_MARK.match(lines[i])), None)
    if after_at is None:
        return None
    blank = [""] * (before_at + 1)      # keep line numbers: both halves index into the same block
    before = blank + lines[before_at + 1:after_at]
    after = [""] * (after_at + 1) + lines[after_at + 1:]
    return "\n".join(before), "\n".join(after)
