"""`leveraudit fix`: libcst codemods for gaps that are mechanical, driven by templates in the spec.

Per kind (the check's `autofix` block says what to insert):

* `cli_option` — a missing option: insert `template` after the last `add_argument` of the parser that
  defines `near`; a wrong literal default under `equals`: rewrite the `default=` value;
* `call_kwarg` — add `keyword=value` to every call that lacks it (`$ARGS`: the argparse namespace of
  the enclosing function, `X = parser.parse_args()`);
* `param` — add the parameter `template` to every matching def, and the `body` statements at its top;
* `assigns_key` — insert `template` after every statement matching `after`;
* `loop_filter` — insert `template` at the top of every loop in scope whose iterable matches `where`
  (`$ITEM`: the loop's target);
* `guard` — insert `template` before the first statement matching the check's `before`.

Only failing checks are fixed; formatting and comments are kept, so a second run changes nothing.
"""

from __future__ import annotations

import ast
import builtins
import difflib
import hashlib
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path

import libcst as cst

from leveraudit.extract.module import ParsedModule, ParseFailure, dotted_name, parse_module
from leveraudit.extract.pattern import code_of, compile_pattern, find, walk
from leveraudit.spec.models import Spec

_PLACEHOLDER = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")


class UnsafeFix(Exception):
    """The codemod would produce code that reads a name nothing binds where it is inserted."""


class FixError(Exception):
    """Nothing was written (pre-flight failed), or the write phase stopped: the message says which files
    already hold their new content."""


_BUILTINS = frozenset(dir(builtins))


@dataclass
class FixResult:
    changed: dict[str, tuple[str, str]] = field(default_factory=dict)  # rel -> (before, after)
    fixed: list[str] = field(default_factory=list)
    unfixable: list[tuple[str, str]] = field(default_factory=list)  # (check id, why)

    def diff(self) -> str:
        chunks = []
        for rel, (before, after) in sorted(self.changed.items()):
            chunks += difflib.unified_diff(before.splitlines(keepends=True), after.splitlines(keepends=True),
                                           f"a/{rel}", f"b/{rel}")
        return "".join(chunks)


def render(template: str, values: dict[str, str]) -> str:
    def replace(match: re.Match) -> str:
        name = match.group(1)
        if name not in values:
            raise KeyError(f"template placeholder ${name} has no value here")
        return values[name]
    return _PLACEHOLDER.sub(replace, template)


def _bindings_text(bindings: dict) -> dict[str, str]:
    return {name: code_of(node) for name, node in bindings.items()}


class _Insert(cst.CSTTransformer):
    """Insert statements before or after given statements (matched by identity with the parsed tree)."""

    def __init__(self, after: dict | None = None, before: dict | None = None) -> None:
        self.after = after or {}  # id(statement) -> [statements]
        self.before = before or {}

    def on_leave(self, original, updated):
        if not isinstance(updated, (cst.IndentedBlock, cst.Module)):
            return updated
        if not any(id(s) in self.after or id(s) in self.before for s in original.body):
            return updated
        body = []
        for original_statement, statement in zip(original.body, updated.body):
            body += self.before.get(id(original_statement), [])
            body.append(statement)
            body += self.after.get(id(original_statement), [])
        return updated.with_changes(body=body)


def _statement(text: str) -> list[cst.BaseStatement]:
    return list(cst.parse_module(text.strip() + "\n").body)


def _free_names(text: str) -> list[str]:
    """Names the code `text` reads without binding them itself (builtins left out)."""
    try:
        tree = ast.parse(text.strip())
    except SyntaxError:
        return []
    bound = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and not isinstance(n.ctx, ast.Load)}
    bound |= {n.name for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
    bound |= {a.arg for n in ast.walk(tree) if isinstance(n, ast.arguments)
              for a in (*n.posonlyargs, *n.args, *n.kwonlyargs, n.vararg, n.kwarg) if a is not None}
    read = [n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)]
    return sorted({name for name in read if name not in bound and name not in _BUILTINS})


def require_bound(module: ParsedModule, anchor, text: str, after: bool = False, also: tuple[str, ...] = ()) -> None:
    """Raise `UnsafeFix` unless every name `text` reads is bound where it is inserted: next to the
    statement (or expression) `anchor` — by a definition reaching it (`after`: or made by it), a
    parameter, a name of an enclosing function, or a module-level name. `also`: names the codemod
    itself adds (a new parameter)."""
    free = [name for name in _free_names(text) if name not in also]
    if not free:
        return
    module_names = {d.key for d in module.function_model(None).reaching.definitions}
    functions = [a for a in [anchor, *module.ancestors(anchor)] if isinstance(a, cst.FunctionDef)]
    for name in free:
        if name in module_names:
            continue
        if functions:
            model = module.function_model(functions[0])
            index = model.node(anchor)
            defs = model.definitions_at(anchor, name) or []
            if after and index is not None:
                defs += [d for d in model.reaching.definitions if d.node == index and d.key == name]
            if defs or any(d.key == name for outer in functions[1:]
                           for d in module.function_model(outer).reaching.definitions):
                continue
        line = module.lines(anchor)[0]
        raise UnsafeFix(f"it would insert code reading `{name}`, which nothing binds at {module.rel}:{line}")


def _enclosing_statement(module: ParsedModule, node):
    for ancestor in [node, *module.ancestors(node)]:
        parent = module.parent(ancestor)
        if isinstance(parent, (cst.IndentedBlock, cst.Module)) and isinstance(ancestor, cst.BaseStatement):
            return ancestor
    return None


def _namespace(module: ParsedModule, node) -> str | None:
    """The name bound to `....parse_args(...)` in the function around `node`, else a parameter `args`."""
    function = module.enclosing_function(node)
    if function is None:
        return None
    for child in walk(function, module):
        if isinstance(child, cst.Assign) and isinstance(child.value, cst.Call):
            if isinstance(child.value.func, cst.Attribute) and child.value.func.attr.value in ("parse_args", "parse_known_args"):
                return dotted_name(child.targets[0].target) or None
    names = [p.name.value for p in function.params.params]
    return "args" if "args" in names else None


# -- per-kind codemods: (module, check) -> (new code, note) ------------------------------------------
def _fix_assigns_key(module, check):
    fix = check.autofix
    after = {}
    for node, bindings in find(compile_pattern(fix.after), module.tree, module):
        statement = _enclosing_statement(module, node)
        if statement is not None:
            text = render(fix.template, _bindings_text(bindings))
            require_bound(module, statement, text, after=True)
            after[id(statement)] = _statement(text)
    return after and module.tree.visit(_Insert(after=after))


def _fix_param(module, check):
    fix = check.autofix
    new_param = cst.parse_module(f"def _f({fix.template}):\n    pass\n").body[0].params.params[0]

    class AddParam(cst.CSTTransformer):
        def __init__(self, targets):
            self.targets = targets

        def leave_FunctionDef(self, original, updated):
            if id(original) not in self.targets:
                return updated
            params = _append_element(list(updated.params.params), new_param, "whitespace_after_param")
            body = updated.body
            if fix.body and isinstance(body, cst.IndentedBlock):
                statements = list(body.body)
                index = 1 if statements and _is_docstring(statements[0]) else 0
                added = [s for text in fix.body for s in _statement(text)]
                body = body.with_changes(body=statements[:index] + added + statements[index:])
            return updated.with_changes(params=updated.params.with_changes(params=params), body=body)

    defs = [d for d in module.find_defs([check.function], cst.FunctionDef)
            if all(p.name.value != check.name for p in d.params.params + d.params.kwonly_params)]
    for definition in defs:  # the new parameter's default is read where the def runs; the body at its top
        if new_param.default is not None:
            require_bound(module, definition, code_of(new_param.default))
        for text in fix.body or []:
            first = definition.body.body[0] if isinstance(definition.body, cst.IndentedBlock) else definition
            require_bound(module, first, text, also=(new_param.name.value,))
    targets = {id(d) for d in defs}
    return targets and module.tree.visit(AddParam(targets))


def _append_element(elements: list, new, trailing_field: str) -> list:
    """Append a parameter or argument keeping the list's layout: one per line stays one per line."""
    if not elements:
        return [new]
    last = elements[-1]
    if isinstance(last.comma, cst.Comma) and isinstance(last.comma.whitespace_after, cst.ParenthesizedWhitespace):
        closing = last.comma.whitespace_after  # before `)`: the last element keeps it
        between = (elements[-2].comma.whitespace_after if len(elements) > 1 and isinstance(elements[-2].comma, cst.Comma)
                   else closing)
        elements[-1] = last.with_changes(comma=cst.Comma(whitespace_after=between))
        return elements + [new.with_changes(comma=cst.Comma(whitespace_after=closing))]
    elements[-1] = last.with_changes(comma=cst.Comma(whitespace_after=cst.SimpleWhitespace(" ")),
                                     **{trailing_field: cst.SimpleWhitespace("")})
    return elements + [new.with_changes(comma=cst.MaybeSentinel.DEFAULT)]


def _is_docstring(statement) -> bool:
    return (isinstance(statement, cst.SimpleStatementLine) and len(statement.body) == 1
            and isinstance(statement.body[0], cst.Expr) and isinstance(statement.body[0].value, cst.SimpleString))


def _fix_loop_filter(module, check):
    fix = check.autofix
    where = compile_pattern(fix.where) if fix.where else None
    top = {}
    for scope in module.find_defs(check.inside):
        for loop in walk(scope, module):
            if not isinstance(loop, cst.For) or not isinstance(loop.body, cst.IndentedBlock):
                continue
            if where is not None and next(find(where, loop.iter, module), None) is None:
                continue
            first = loop.body.body[0]
            text = render(fix.template, {"ITEM": code_of(loop.target)})
            require_bound(module, first, text)
            top[id(first)] = _statement(text)
    return top and module.tree.visit(_Insert(before=top))


def _fix_guard(module, check):
    targets = [compile_pattern(p) for p in check.before]
    for function in module.find_defs(check.inside, cst.FunctionDef):
        for pattern in targets:
            for node, bindings in find(pattern, function.body, module):
                statement = _enclosing_statement(module, node)
                if statement is not None:
                    text = render(check.autofix.template, _bindings_text(bindings))
                    require_bound(module, statement, text)
                    return module.tree.visit(_Insert(before={id(statement): _statement(text)}))
    return None


def _fix_call_kwarg(module, check):
    from leveraudit.checks.call_kwarg import call_matches

    fix = check.autofix
    additions = {}
    for call in module.calls:
        if not call_matches(module, call, check.callee):
            continue
        if any(a.keyword is not None and a.keyword.value == check.keyword for a in call.args):
            continue
        values = {}
        namespace = _namespace(module, call)
        if namespace:
            values["ARGS"] = namespace
        try:
            value = render(fix.value, values)
        except KeyError:
            continue
        require_bound(module, call, value)
        additions[id(call)] = cst.parse_expression(value)

    class AddKeyword(cst.CSTTransformer):
        def leave_Call(self, original, updated):
            value = additions.get(id(original))
            if value is None:
                return updated
            new = cst.Arg(value=value, keyword=cst.Name(check.keyword),
                          equal=cst.AssignEqual(whitespace_before=cst.SimpleWhitespace(""),
                                                whitespace_after=cst.SimpleWhitespace("")))
            args = _append_element(list(updated.args), new, "whitespace_after_arg")
            return updated.with_changes(args=args)

    return additions and module.tree.visit(AddKeyword())


def _fix_cli_option(module, check, context_options):
    fix = check.autofix
    existing = [o for o in context_options if o.dest == check.dest and o.path == module.rel]
    if existing:
        option = existing[0]
        if check.default is None or check.default.equals is None or option.default_line:
            return None

        class SetDefault(cst.CSTTransformer):
            def leave_Arg(self, original, updated):
                if original.keyword is not None and original.keyword.value == "default":
                    parent_call = module.parent(original)
                    if isinstance(parent_call, cst.Call) and module.lines(parent_call)[0] == option.line:
                        return updated.with_changes(value=cst.parse_expression(repr(check.default.equals)))
                return updated
        return module.tree.visit(SetDefault())
    if not fix.template or not fix.near:
        return None
    anchors = [o for o in context_options if o.dest == fix.near and o.path == module.rel and o.framework == "argparse"]
    if not anchors:
        return None
    program = anchors[0].program
    last_line = max(o.line for o in context_options if o.program == program and o.flags)
    for call in module.calls:
        if isinstance(call.func, cst.Attribute) and call.func.attr.value == "add_argument" \
                and module.lines(call)[0] == last_line:
            statement = _enclosing_statement(module, call)
            receiver = code_of(call.func.value)
            text = render(fix.template, {"PARSER": receiver})
            require_bound(module, statement, text, after=True)
            return module.tree.visit(_Insert(after={id(statement): _statement(text)}))
    return None


_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NOT_ANCHORS = {"self", "cls", "if", "else", "for", "in", "not", "and", "or", "is", "None", "True", "False", "return"}


def _anchor_words(check) -> list[set[str]]:
    """Word sets a file must contain (all words of one of them) for the check's codemod to find its
    anchor there: the text pre-filter of `fix`. Empty: no filter (every file is parsed)."""
    from leveraudit.checks.base import pattern_words

    fix = check.autofix
    if check.kind == "assigns_key":   # the statement to insert after: its names and string contents
        words = pattern_words(fix.after) if fix.after else set()
        return [words] if words else []
    names: list[str] = []
    if check.kind == "param":         # the class and the def: `Dataset.__init__` needs both, not any `__init__`
        names = [check.function]
    elif check.kind in ("loop_filter", "guard"):
        names = list(check.inside)
    elif check.kind == "call_kwarg":
        names = [check.callee.rsplit(".", 1)[-1]]
    elif check.kind == "cli_option":
        names = [fix.near or check.dest, check.dest]
    alternatives = []
    for name in names:
        if not name or any(char in name for char in "*?["):   # a glob can match any name
            return []
        words = {w for w in _IDENTIFIER.findall(_PLACEHOLDER.sub("", name)) if w not in _NOT_ANCHORS}
        if words:
            alternatives.append(words)
    return alternatives


def apply_fixes(spec: Spec, root: Path, report, write: bool = True) -> FixResult:
    """Fix every failing required or advisory check that has an `autofix`, file by file.

    All codemods are computed first; a check whose codemod would insert an unbound name is listed as
    unsafe and applied nowhere. Then, when `write`, a pre-flight makes sure every target is still the
    file that was read and can be replaced; only then is each file replaced atomically."""
    from leveraudit.extract.cli import extract_cli
    from leveraudit.extract.discover import Skipped, discover, read_source

    result = FixResult()
    statuses = {check.id: check.status for item in report.items for check in item.checks}
    failing = [(check_id, check) for _, check_id, check in spec.iter_checks()
               if statuses.get(check_id) not in ("pass", "suppressed")]
    files = [s for s in (read_source(r) for r in discover(root, spec.include, spec.exclude).files)
             if not isinstance(s, Skipped)]
    texts = {s.rel: s.text for s in files}
    originals = {s.rel: s for s in files}
    parsed: dict[tuple[str, str], object] = {}  # (path, text) -> module: each version parsed once
    for check_id, check in failing:
        if check.autofix is None or check.kind not in _FIXERS:
            result.unfixable.append((check_id, "no safe automatic fix" if check.autofix is None
                                     else f"{check.kind} has no codemod"))
            continue
        staged: dict[str, str] = {}
        words = _anchor_words(check)
        try:
            for rel in sorted(texts):
                if words and not any(all(word in texts[rel] for word in alternative) for alternative in words):
                    continue  # the codemod's anchor is not in the file: nothing to parse (a large tree stays fast)
                module = parsed.get((rel, texts[rel]))
                if module is None:
                    module = parsed[(rel, texts[rel])] = parse_module(rel, texts[rel])
                if isinstance(module, ParseFailure):
                    continue
                if check.kind == "cli_option":
                    new = _fix_cli_option(module, check, extract_cli(module))
                else:
                    new = _FIXERS[check.kind](module, check)
                if new and new.code != texts[rel]:
                    staged[rel] = new.code
        except UnsafeFix as exc:
            result.unfixable.append((check_id, f"unsafe, not applied: {exc}"))
            continue
        for rel, code in staged.items():
            before = result.changed.get(rel, (texts[rel], None))[0]
            texts[rel] = code
            result.changed[rel] = (before, code)
        (result.fixed.append(check_id) if staged else result.unfixable.append((check_id, "no place to apply it")))
    if write and result.changed:
        _write_all(root, {rel: after for rel, (_, after) in result.changed.items()}, originals)
    return result


def _write_all(root: Path, new_texts: dict[str, str], originals: dict) -> None:
    """Pre-flight, then one atomic replacement per file. Predictable failures (a file changed since it
    was read, read-only, not a regular file, a directory that refuses new files, text the file's
    encoding cannot hold) stop everything before the first write."""
    from leveraudit.atomic import remove_stale_temporaries, write_atomically
    from leveraudit.extract.discover import declared_encoding

    problems, payloads = [], {}
    for rel in sorted(new_texts):
        path = root / rel
        try:
            info = os.lstat(path)
            if not stat.S_ISREG(info.st_mode):
                problems.append(f"{rel}: not a regular file")
                continue
            current = path.read_bytes()
        except OSError as exc:
            problems.append(f"{rel}: {exc.strerror or exc}")
            continue
        if hashlib.sha256(current).hexdigest() != originals[rel].digest:
            problems.append(f"{rel}: changed since it was read; run fix again")
            continue
        if not os.access(path, os.W_OK) or not os.access(path.parent, os.W_OK | os.X_OK):
            problems.append(f"{rel}: permission denied (the file or its folder is not writable)")
            continue
        try:
            # the encoding the file declares (PEP 263): a latin-1 file stays latin-1
            payloads[rel] = (new_texts[rel].encode(declared_encoding(current)), stat.S_IMODE(info.st_mode))
        except (UnicodeEncodeError, LookupError) as exc:
            problems.append(f"{rel}: the fix holds characters its encoding ({getattr(exc, 'encoding', 'declared')}) cannot store")
    if problems:
        raise FixError("nothing written: " + "; ".join(problems))
    written = []
    for rel, (data, mode) in payloads.items():
        path = root / rel
        remove_stale_temporaries(path)
        try:
            write_atomically(path, data, mode)
        except OSError as exc:
            done = f"already fixed: {', '.join(written)}" if written else "nothing was written"
            raise FixError(f"writing {rel} failed ({exc.strerror or exc}); {rel} is unchanged, {done}") from exc
        written.append(rel)

_FIXERS = {"assigns_key": _fix_assigns_key, "param": _fix_param, "loop_filter": _fix_loop_filter,
           "guard": _fix_guard, "call_kwarg": _fix_call_kwarg, "cli_option": None}
