"""Invocations of programs in shell scripts and Markdown, read as text (never run).

Recognised: `python [opts] path/x.py ARGS`, `python -m pkg.mod ARGS`, and console scripts by name
(`leverplus train ARGS`), across `\\` continuations, with `$VAR` / `${VAR}` / `${VAR:-default}`
expanded when the script assigns the variable. Markdown: fenced `bash` / `sh` / `shell` / `console` /
unlabelled blocks (a leading `$ ` prompt is dropped) and `--flags` in inline code.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field

_ASSIGN = re.compile(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=(.*)$")
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?-([^}]*))?\}|\$([A-Za-z_][A-Za-z0-9_]*)")
_PYTHON = re.compile(r"^(?:.*/)?python[0-9.]*$")
_STOP = {"|", "||", "&&", ";", "&", ">", ">>", "2>", "2>&1", "1>", "<", "|&"}
_PYTHON_OPTIONS_WITH_VALUE = {"-W", "-X", "-c"}
_FENCE = re.compile(r"^(\s*)(`{3,}|~{3,})\s*([\w+-]*)")
_INLINE_CODE = re.compile(r"`([^`\n]+)`")
_FLAG = re.compile(r"(?<![\w-])(--[A-Za-z][A-Za-z0-9_-]*)")


@dataclass
class Argument:
    flag: str
    value: str | None
    line: int


@dataclass
class Invocation:
    path: str
    line: int
    target_kind: str  # file | module | script
    target: str
    command: str | None = None  # a console script's sub-command
    arguments: list[Argument] = field(default_factory=list)
    text: str = ""


def _expand(text: str, variables: dict[str, str]) -> str:
    def replace(match: re.Match) -> str:
        name = match.group(1) or match.group(3)
        if name in variables:
            return variables[name]
        if match.group(2) is not None:
            return match.group(2)
        return match.group(0)
    return _VAR.sub(replace, text)


def _logical_lines(lines: list[tuple[int, str]]):
    """Join `\\` continuations; yield (first line, [(line, text), ...])."""
    buffer: list[tuple[int, str]] = []
    for number, text in lines:
        stripped = text.rstrip()
        if stripped.endswith("\\"):
            buffer.append((number, stripped[:-1]))
            continue
        buffer.append((number, stripped))
        yield buffer[0][0], buffer
        buffer = []
    if buffer:
        yield buffer[0][0], buffer


def parse_shell(path: str, lines: list[tuple[int, str]], scripts: set[str]) -> list[Invocation]:
    variables: dict[str, str] = {}
    found = []
    for first, parts in _logical_lines(lines):
        joined = " ".join(text for _, text in parts).strip()
        if not joined or joined.startswith("#"):
            continue
        try:
            whole = shlex.split(_expand(joined, variables), comments=True)
        except ValueError:
            whole = []
        if whole and whole[0] == "export":
            whole = whole[1:]
        if len(whole) == 1 and _ASSIGN.match(whole[0]):  # NAME=value alone on its line
            name, _, value = whole[0].partition("=")
            variables[name] = value
            continue
        tokens: list[tuple[str, int]] = []
        for number, text in parts:
            try:
                words = shlex.split(_expand(text, variables), comments=True)
            except ValueError:
                words = _expand(text, variables).split()
            tokens += [(word, number) for word in words]
        invocation = _invocation(path, first, tokens, scripts)
        if invocation is not None:
            invocation.text = joined
            found.append(invocation)
    return found


def _invocation(path: str, first: int, tokens: list[tuple[str, int]], scripts: set[str]) -> Invocation | None:
    words = [word for word, _ in tokens]
    for start, word in enumerate(words):
        if _PYTHON.match(word):
            index = start + 1
            while index < len(words) and words[index].startswith("-") and words[index] != "-m":
                index += 2 if words[index] in _PYTHON_OPTIONS_WITH_VALUE else 1
            if index + 1 < len(words) and words[index] == "-m":
                invocation = Invocation(path, tokens[index][1], "module", words[index + 1])
                return _with_arguments(invocation, tokens[index + 2:])
            if index < len(words) and words[index].endswith(".py"):
                invocation = Invocation(path, tokens[index][1], "file", words[index].removeprefix("./"))
                return _with_arguments(invocation, tokens[index + 1:])
            return None
        name = word.rsplit("/", 1)[-1]
        if name in scripts:
            invocation = Invocation(path, tokens[start][1], "script", name)
            rest = tokens[start + 1:]
            if rest and not rest[0][0].startswith("-") and rest[0][0] not in _STOP:
                invocation.command = rest[0][0]
                rest = rest[1:]
            return _with_arguments(invocation, rest)
        if "=" in word and not word.startswith("-") or word in ("exec", "nohup", "time", "env", "sudo"):
            continue
        return None
    return None


def _with_arguments(invocation: Invocation, tokens: list[tuple[str, int]]) -> Invocation:
    index = 0
    while index < len(tokens):
        word, number = tokens[index]
        if word in _STOP or word.startswith(">") or word.startswith("2>"):
            break
        if word.startswith("--") and len(word) > 2 or (word.startswith("-") and len(word) == 2 and word[1].isalpha()):
            flag, _, inline = word.partition("=")
            value = inline or None
            if value is None and index + 1 < len(tokens) and not tokens[index + 1][0].startswith("-") \
                    and tokens[index + 1][0] not in _STOP:
                value = tokens[index + 1][0]
            invocation.arguments.append(Argument(flag, value, number))
        index += 1
    return invocation


def shell_lines(text: str) -> list[tuple[int, str]]:
    return list(enumerate(text.splitlines(), start=1))


def markdown_blocks(text: str) -> tuple[list[list[tuple[int, str]]], list[tuple[int, str]]]:
    """(fenced shell blocks as numbered lines, prose lines outside fences)."""
    blocks, prose, current, fence = [], [], None, None
    for number, line in enumerate(text.splitlines(), start=1):
        match = _FENCE.match(line)
        if fence is None and match:
            fence = match.group(2)
            current = [] if match.group(3).lower() in ("", "bash", "sh", "shell", "console", "zsh") else None
            continue
        if fence is not None and line.strip().startswith(fence[0] * 3):
            if current is not None:
                blocks.append(current)
            fence, current = None, None
            continue
        if fence is not None:
            if current is not None:
                current.append((number, re.sub(r"^\s*\$\s+", "", line)))
        else:
            prose.append((number, line))
    return blocks, prose


def inline_flags(prose: list[tuple[int, str]]) -> list[tuple[str, int]]:
    """`--flags` written in inline code spans of prose, with their lines."""
    found = []
    for number, line in prose:
        for span in _INLINE_CODE.findall(line):
            found += [(flag, number) for flag in _FLAG.findall(span)]
    return found
