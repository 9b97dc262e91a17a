"""Invocations of programs in shell scripts and Markdown, parsed with real parsers (never run).

Shell is read with tree-sitter-bash, Markdown with markdown-it-py. Recognised: `python [opts]
path/x.py ARGS`, `python -m pkg.mod ARGS`, and console scripts by name (`leverplus train ARGS`),
across `\\` continuations; `$VAR` / `${VAR}` / `${VAR:-default}` expanded from the script's
assignments, with every value a `case` arm or `if` branch may leave; arrays (`CMD=(python ...)`
run as `"${CMD[@]}"`); commands built in strings and run later (`CMD="python -m x --a 1"`,
`CMD="$CMD --b 2"`, `eval $CMD`; `bash -c '...'`). Markdown: fenced `bash` / `sh` / `shell` /
`console` / unlabelled blocks (a leading `$ ` prompt is dropped) and `--flags` in inline code.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_PYTHON = re.compile(r"^(?:.*/)?python[0-9.]*$")
_STOP = {"|", "||", "&&", ";", "&", ">", ">>", "2>", "2>&1", "1>", "<", "|&"}
_PYTHON_OPTIONS_WITH_VALUE = {"-W", "-X", "-c"}
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


_SHELL_INFOS = {"", "bash", "sh", "shell", "console", "zsh", "shell-session"}
_MAX_ALTERNATIVES = 8  # values a variable may hold (case arms, if branches), and command spellings tried
_MAX_DEPTH = 64  # nesting of shell constructs (and of eval / bash -c) followed


def _parser():
    global _PARSER
    if _PARSER is None:
        import tree_sitter_bash
        from tree_sitter import Language, Parser

        _PARSER = Parser(Language(tree_sitter_bash.language()))
    return _PARSER


_PARSER = None


def _product(choices: list[list[list[str]]]) -> list[list[str]]:
    combos: list[list[str]] = [[]]
    for options in choices:
        if len(options) == 1:  # the usual word: extend in place (copying here made long commands quadratic)
            for combo in combos:
                combo.extend(options[0])
        else:
            combos = [c + o for c in combos for o in options][:_MAX_ALTERNATIVES]
    return combos


class _Shell:
    """Reads a shell script as tree-sitter-bash parses it, following variables (assignments,
    `case` arms and `if` branches as alternatives, arrays), and commands built in strings and run
    later (`eval $CMD`, `"${CMD[@]}"`, `bash -c '...'`). Nothing is executed."""

    def __init__(self, path: str, scripts: set[str], first_line: int) -> None:
        self.path, self.scripts, self.first_line = path, scripts, first_line
        self.variables: dict[str, list[list[str]]] = {}  # name -> alternatives, each a list of words
        self.found: list[Invocation] = []
        self.seen: set[tuple] = set()

    def line(self, node) -> int:
        return node.start_point[0] + self.first_line

    # -- values -------------------------------------------------------------------------------
    def _var(self, name: str, default: str | None = None) -> list[list[str]] | None:
        if name in self.variables:
            return self.variables[name]
        return [default.split()] if default is not None else None

    def texts(self, node, depth: int = 0) -> list[str]:
        """Alternatives for what a word-like node stands for, without word splitting."""
        kind = node.type
        raw = node.text.decode("utf-8", "replace")
        if depth > _MAX_DEPTH:
            return [raw]
        if kind == "raw_string":
            return [raw[1:-1]]
        if kind in ("string", "concatenation"):
            parts: list[list[str]] = []
            for child in node.children:
                if child.type == '"':
                    continue
                parts.append(self.texts(child, depth + 1))
            combos = [""]
            for options in parts:
                combos = [c + o for c in combos for o in options][:_MAX_ALTERNATIVES]
            return combos
        if kind in ("simple_expansion", "expansion"):
            values = self._expansion(node)
            return [" ".join(v) for v in values] if values is not None else [raw]
        return [raw]

    def _expansion(self, node) -> list[list[str]] | None:
        names = [c for c in node.named_children if c.type in ("variable_name", "subscript")]
        if not names:
            return None
        target = names[0]
        if target.type == "subscript":
            target = next((c for c in target.named_children if c.type == "variable_name"), target)
        name = target.text.decode("utf-8", "replace")
        default = None
        kids = list(node.children)
        for index, child in enumerate(kids):
            if child.type in (":-", "-", ":=", "="):
                rest = kids[index + 1:-1] if kids and kids[-1].type == "}" else kids[index + 1:]
                default = "".join(self.texts(r)[0] for r in rest)
        return self._var(name, default)

    def words(self, node) -> list[list[str]]:
        """Alternatives for the words an argument node becomes (unquoted expansions split)."""
        if node.type in ("simple_expansion", "expansion"):
            values = self._expansion(node)
            if values is not None:
                return [[w for word in v for w in word.split()] for v in values]
        if node.type == "string":
            inner = [c for c in node.named_children]
            if len(inner) == 1 and inner[0].type == "expansion" and b"[@]" in inner[0].text:
                values = self._expansion(inner[0])  # "${CMD[@]}": the array's words
                if values is not None:
                    return values
        return [[text] for text in self.texts(node)]

    def assign(self, node, into: dict[str, list[list[str]]]) -> None:
        name_node = node.child_by_field_name("name")
        value = node.child_by_field_name("value")
        if name_node is None:
            return
        name = name_node.text.decode("utf-8", "replace")
        if value is None:
            into[name] = [[""]]
        elif value.type == "array":
            into[name] = _product([self.words(c) for c in value.named_children])
        else:
            into[name] = [[text] for text in self.texts(value)]

    # -- statements ---------------------------------------------------------------------------
    def run(self, node, depth: int = 0) -> None:
        if depth > _MAX_DEPTH:
            return
        kind = node.type
        if kind == "variable_assignment":
            self.assign(node, self.variables)
        elif kind == "declaration_command":
            for child in node.named_children:
                if child.type == "variable_assignment":
                    self.assign(child, self.variables)
        elif kind == "command":
            self.command(node, depth)
        elif kind in ("case_statement", "if_statement"):
            self.branches(node, depth)
        elif kind == "comment":
            return
        else:
            for child in node.named_children:
                self.run(child, depth + 1)

    def branches(self, node, depth: int) -> None:
        """Each arm runs from the same state; afterwards a variable may hold what any arm left."""
        arms = [c for c in node.named_children if c.type in ("case_item", "elif_clause", "else_clause")]
        before = dict(self.variables)
        outcomes = [dict(before)]  # no arm taken
        if node.type == "if_statement":  # the `then` part: statements that are direct children
            self.variables = dict(before)
            for child in node.named_children:
                if child.type not in ("elif_clause", "else_clause") and child is not node.named_children[0]:
                    self.run(child, depth + 1)
            outcomes.append(self.variables)
        for arm in arms:
            self.variables = dict(before)
            for child in arm.named_children:
                self.run(child, depth + 1)
            outcomes.append(self.variables)
        merged: dict[str, list[list[str]]] = {}
        for outcome in outcomes:
            for name, values in outcome.items():
                known = merged.setdefault(name, [])
                known += [v for v in values if v not in known]
                del known[_MAX_ALTERNATIVES:]
        self.variables = merged

    def command(self, node, depth: int) -> None:
        parts = []  # per argument: alternatives, each a list of (word, line)
        for child in node.named_children:
            if child.type == "variable_assignment":
                continue  # `ENV=1 python ...`: an environment prefix
            if child.type in ("file_redirect", "heredoc_redirect", "herestring_redirect"):
                break
            target = child.named_children[0] if child.type == "command_name" and child.named_children else child
            line = self.line(child)
            parts.append([[(word, line) for word in alternative] for alternative in self.words(target)])
        for tokens in _product(parts):
            self.dispatch([word for word, _ in tokens], tokens, self.line(node), depth)

    def dispatch(self, words: list[str], tokens, line: int, depth: int) -> None:
        if not words:
            return
        head = words[0].rsplit("/", 1)[-1]
        if head == "eval":
            self.nested(" ".join(words[1:]), line, depth)
            return
        if head in ("bash", "sh", "zsh") and "-c" in words[1:-1]:
            self.nested(words[words.index("-c", 1) + 1], line, depth)
            return
        invocation = _invocation(self.path, line, tokens, self.scripts)
        if invocation is None:
            return
        invocation.text = " ".join(words)
        key = (invocation.target, invocation.command, tuple((a.flag, a.value) for a in invocation.arguments))
        if key not in self.seen:
            self.seen.add(key)
            self.found.append(invocation)

    def nested(self, text: str, line: int, depth: int) -> None:
        """A command held in a string (`eval`, `bash -c`): parsed as shell in its own right, with the
        variables known here; its lines are the line of the command that runs it."""
        if depth > _MAX_DEPTH:
            return
        inner = _Shell(self.path, self.scripts, line)
        inner.variables = dict(self.variables)
        inner.first_line = line
        tree = _parser().parse(text.encode("utf-8"))
        inner.run(tree.root_node, depth + 1)
        for invocation in inner.found:
            invocation.line = line
            for argument in invocation.arguments:
                argument.line = line
            key = (invocation.target, invocation.command, tuple((a.flag, a.value) for a in invocation.arguments))
            if key not in self.seen:
                self.seen.add(key)
                self.found.append(invocation)


def shell_invocations(path: str, text: str, scripts: set[str], first_line: int = 1) -> list[Invocation]:
    """Invocations of the repository's programs in a shell script (or a fenced block)."""
    shell = _Shell(path, scripts, first_line)
    try:
        tree = _parser().parse(text.encode("utf-8", "replace"))
    except (ValueError, RecursionError, MemoryError):
        return []
    shell.run(tree.root_node)
    return shell.found


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


_MARKDOWN = None


def _markdown():
    global _MARKDOWN
    if _MARKDOWN is None:
        from markdown_it import MarkdownIt

        _MARKDOWN = MarkdownIt("commonmark")
    return _MARKDOWN


def markdown_parts(text: str) -> tuple[list[tuple[int, str]], list[tuple[str, int]]]:
    """(fenced shell blocks as (first content line, text), inline code spans as (code, line)),
    read with markdown-it-py: fences that never close, nested lists and HTML are its problem."""
    try:
        tokens = _markdown().parse(text)
    except (ValueError, RecursionError, MemoryError):
        return [], []
    lines = text.splitlines()
    blocks, spans = [], []
    for token in tokens:
        if token.type == "fence" and token.map:
            info = (token.info or "").strip().split()
            if (info[0].lower() if info else "") in _SHELL_INFOS:
                content = "\n".join(re.sub(r"^\s*\$\s+", "", line) for line in token.content.splitlines())
                blocks.append((token.map[0] + 2, content))
        elif token.type == "inline" and token.map and token.children:
            for child in token.children:
                if child.type == "code_inline":
                    line = next((n + 1 for n in range(token.map[0], token.map[1])
                                 if n < len(lines) and child.content in lines[n]), token.map[0] + 1)
                    spans.append((child.content, line))
    return blocks, spans


def inline_flags(spans: list[tuple[str, int]]) -> list[tuple[str, int]]:
    """`--flags` written in inline code spans of prose, with their lines."""
    return [(flag, line) for code, line in spans for flag in _FLAG.findall(code)]
