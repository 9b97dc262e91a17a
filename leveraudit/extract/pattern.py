"""Structural patterns written as Python snippets.

`$X` is a metavariable (the same name must bind the same code), `...` matches any expression,
any run of arguments or elements, or any block. Matching ignores formatting, comments, quoting
and parentheses, and treats these as one shape each:

* `x <= 0`, `0 >= x`, `x < 1` (integers) and `not x > 0`;
* `c["k"]`, `c.get("k")`, `c.get("k", d)` and `c.k` (a key read from a dict or a model);
* keyword arguments in any order.
"""

from __future__ import annotations

import ast
import contextlib
import contextvars
import dataclasses
import re
from collections.abc import Iterator
from functools import lru_cache

from leveraudit.lazy import cst

from leveraudit.extract.module import literal_value, string_value

METAVAR_PREFIX = "__mv_"
_METAVAR = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)")


class PatternError(ValueError):
    pass


@lru_cache(maxsize=4096)
def compile_pattern(text: str) -> cst.CSTNode:
    from leveraudit.extract.module import too_complex

    reason = too_complex(text)
    if reason is not None:  # a spec comes from a pull request too
        raise PatternError(f"pattern {text[:60]!r}...: {reason}")
    source = _METAVAR.sub(lambda m: METAVAR_PREFIX + m.group(1), text.strip())
    try:
        return canonical(cst.parse_expression(source))
    except cst.ParserSyntaxError:
        pass
    try:
        statement = cst.parse_statement(source + ("\n" if not source.endswith("\n") else ""))
    except cst.ParserSyntaxError as exc:
        raise PatternError(f"pattern does not parse as Python: {text!r} ({exc.message.splitlines()[0]})") from None
    return unwrap_statement(statement)


def check_pattern(text: str) -> None:
    """Raise PatternError for what `compile_pattern` would refuse, without importing libcst when CPython's
    parser (parse only) already accepts the pattern as one expression or one statement: loading a spec
    then costs no libcst import, which a warm run never needs otherwise. Anything CPython refuses, or
    reads as several statements, goes to libcst, so its error message is libcst's own; a pattern CPython
    accepts and libcst would not (none known) fails when a check compiles it, as a check error."""
    from leveraudit.extract.module import too_complex

    if too_complex(text) is None:
        source = _METAVAR.sub(lambda m: METAVAR_PREFIX + m.group(1), text.strip())
        for mode in ("eval", "exec"):
            try:
                tree = ast.parse(source, mode=mode)
            except (SyntaxError, ValueError, RecursionError, MemoryError, OverflowError):
                continue
            if mode == "eval" or len(tree.body) == 1:
                return
            break
    compile_pattern(text)


def unwrap_statement(node: cst.CSTNode) -> cst.CSTNode:
    """`x = 1` stands for its Assign, `f(x)` for its Call, so statements and expressions compare."""
    if isinstance(node, cst.SimpleStatementLine) and len(node.body) == 1:
        node = node.body[0]
    if isinstance(node, cst.Expr):
        node = node.value
    return node


# -- normalisation --------------------------------------------------------------------------
# tables of libcst's node types are built on first use (leveraudit/lazy.py: a warm run never imports libcst)
@lru_cache(maxsize=None)
def _flip() -> dict[type, type]:
    """The comparison `a op b` is `b flipped a`."""
    return {cst.LessThan: cst.GreaterThan, cst.GreaterThan: cst.LessThan, cst.LessThanEqual: cst.GreaterThanEqual,
            cst.GreaterThanEqual: cst.LessThanEqual, cst.Equal: cst.Equal, cst.NotEqual: cst.NotEqual}


@lru_cache(maxsize=None)
def negate() -> dict[type, type]:
    """The comparison `not (a op b)` is `a negated b`."""
    return {cst.LessThan: cst.GreaterThanEqual, cst.GreaterThanEqual: cst.LessThan,
            cst.GreaterThan: cst.LessThanEqual, cst.LessThanEqual: cst.GreaterThan, cst.Equal: cst.NotEqual,
            cst.NotEqual: cst.Equal, cst.In: cst.NotIn, cst.NotIn: cst.In, cst.Is: cst.IsNot, cst.IsNot: cst.Is}


def _is_number(node: cst.CSTNode) -> bool:
    known, value = literal_value(node)
    return known and isinstance(value, (int, float)) and not isinstance(value, bool)


def _number_node(value: int | float) -> cst.BaseExpression:
    return cst.parse_expression(repr(value))


def canonical(node: cst.CSTNode) -> cst.CSTNode:
    """One spelling for comparisons; other nodes are returned unchanged."""
    if isinstance(node, cst.UnaryOperation) and isinstance(node.operator, cst.Not):
        inner = node.expression
        if isinstance(inner, cst.Comparison) and len(inner.comparisons) == 1:
            target = inner.comparisons[0]
            negated = negate().get(type(target.operator))
            if negated is not None:
                return canonical(cst.Comparison(inner.left, [cst.ComparisonTarget(negated(), target.comparator)]))
        return node
    if not isinstance(node, cst.Comparison) or len(node.comparisons) != 1:
        return node
    left, target = node.left, node.comparisons[0]
    operator, right = type(target.operator), target.comparator
    flip = _flip()
    if _is_number(left) and not _is_number(right) and operator in flip:
        left, right, operator = right, left, flip[operator]
    elif operator in (cst.Equal, cst.NotEqual) and literal_value(left)[0] and not literal_value(right)[0]:
        left, right = right, left  # `"fallback" == mode` is `mode == "fallback"`
    known, value = literal_value(right)
    if known and isinstance(value, int) and not isinstance(value, bool):
        if operator is cst.LessThan:
            operator, right = cst.LessThanEqual, _number_node(value - 1)
        elif operator is cst.GreaterThan:
            operator, right = cst.GreaterThanEqual, _number_node(value + 1)
    if left is node.left and right is target.comparator and operator is type(target.operator):
        return node
    return cst.Comparison(left, [cst.ComparisonTarget(operator(), right)])


def key_access(node: cst.CSTNode) -> tuple[cst.BaseExpression, str] | None:
    """(container, key) for c["k"], c.get("k"[, d]) and c.k."""
    if isinstance(node, cst.Subscript) and len(node.slice) == 1:
        index = node.slice[0].slice
        if isinstance(index, cst.Index):
            known, value = literal_value(index.value)
            if known and isinstance(value, str):
                return node.value, value
        return None
    if isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute) and node.func.attr.value == "get":
        if node.args and node.args[0].keyword is None and len(node.args) <= 2:
            known, value = literal_value(node.args[0].value)
            if known and isinstance(value, str):
                return node.func.value, value
        return None
    if isinstance(node, cst.Attribute):
        return node.value, node.attr.value
    return None


# -- matching -------------------------------------------------------------------------------
@lru_cache(maxsize=None)
def _token_types() -> tuple[type, ...]:
    return (cst.BaseParenthesizableWhitespace, cst.EmptyLine, cst.TrailingWhitespace, cst.Newline,
            cst.Comma, cst.Semicolon, cst.AssignEqual, cst.Dot, cst.LeftParen, cst.RightParen,
            cst.LeftSquareBracket, cst.RightSquareBracket, cst.LeftCurlyBrace, cst.RightCurlyBrace,
            cst.Colon, cst.MaybeSentinel, cst.ImportStar, cst.Annotation.__mro__[-1].__class__)


_SKIPPED_FIELDS = {"lpar", "rpar", "leading_lines", "lines_after_decorators", "header", "footer", "indent",
                   "whitespace_before_colon", "whitespace_after_colon", "semicolon", "comma", "equal",
                   "whitespace_before", "whitespace_after", "whitespace_after_func", "whitespace_before_args",
                   "whitespace_after_star", "whitespace_after_param", "whitespace_after_arg", "star_tok",
                   "whitespace_after_in", "whitespace_before_in", "whitespace_after_for", "whitespace_after_if",
                   "whitespace_after_def", "whitespace_after_name", "whitespace_before_params",
                   "whitespace_after_class", "whitespace_after_return", "whitespace_after_raise",
                   "whitespace_after_assert", "whitespace_after_del", "whitespace_after_lambda",
                   "whitespace_after_not", "whitespace_after_await", "whitespace_after_else",
                   "whitespace_after_elif", "whitespace_after_while", "whitespace_after_with",
                   "whitespace_before_from", "whitespace_after_from", "whitespace_before_import",
                   "whitespace_after_import", "whitespace_after_try", "whitespace_after_except",
                   "whitespace_after_finally", "whitespace_before_as", "whitespace_after_as",
                   "whitespace_before_expression", "whitespace_before_equal", "whitespace_after_equal",
                   "whitespace_before_indicator", "whitespace_after_indicator", "whitespace_before_test",
                   "whitespace_after_test", "whitespace_before_value", "whitespace_after_value",
                   "whitespace_after_await", "whitespace_after_async", "whitespace_after_yield",
                   "lbracket", "rbracket", "lbrace", "rbrace", "dot", "colon", "asynchronous_tok"}


def is_metavar(node: cst.CSTNode) -> str | None:
    if isinstance(node, cst.Name) and node.value.startswith(METAVAR_PREFIX):
        return node.value[len(METAVAR_PREFIX):]
    return None


def _is_wildcard(node: cst.CSTNode) -> bool:
    if isinstance(node, cst.Ellipsis):
        return True
    if isinstance(node, (cst.Arg, cst.Element)) and isinstance(node.value, cst.Ellipsis):
        return getattr(node, "keyword", None) is None and getattr(node, "star", "") == ""
    if isinstance(node, cst.SimpleStatementLine) and len(node.body) == 1:
        small = node.body[0]
        return isinstance(small, cst.Expr) and isinstance(small.value, cst.Ellipsis)
    if isinstance(node, cst.Expr):
        return isinstance(node.value, cst.Ellipsis)
    return False


@lru_cache(maxsize=None)
def _empty_module() -> cst.Module:
    return cst.Module(body=[])


def code_of(node: cst.CSTNode) -> str:
    return " ".join(_empty_module().code_for_node(node).split())


Bindings = "dict[str, cst.CSTNode]"   # for annotations (strings here)


# The resolver (analysis.model.Resolver) lets a pattern match *through* names: when `n` does not
# have the pattern's shape but is a name (or a one-line helper call) whose reaching values do,
# it matches. Checks that follow values turn it on with `resolving(...)`.
_RESOLVER: contextvars.ContextVar = contextvars.ContextVar("leveraudit_resolver", default=None)


@contextlib.contextmanager
def resolving(resolver):
    token = _RESOLVER.set(resolver)
    try:
        yield
    finally:
        _RESOLVER.reset(token)


def match(pattern: cst.CSTNode, node: cst.CSTNode, bindings: Bindings | None = None) -> Bindings | None:
    """The bindings if `node` has the shape of `pattern`, else None."""
    bound: Bindings = dict(bindings or {})
    return bound if _match(pattern, node, bound) else None


def _match(p: cst.CSTNode, n: cst.CSTNode, b: Bindings) -> bool:
    resolver = _RESOLVER.get()
    if resolver is None:
        return _match_direct(p, n, b)
    trial = dict(b)
    if _match_direct(p, n, trial):
        b.update(trial)
        return True
    if is_metavar(p) or not isinstance(n, (cst.Name, cst.Attribute, cst.Call)) or _DEPTH[0] >= 4:
        return False
    _DEPTH[0] += 1  # a value may mention the name again (`x = f(x)` in a loop): follow a few steps only
    try:
        for value in resolver.expand(n):
            trial = dict(b)
            if _match(p, value, trial):
                b.update(trial)
                return True
    finally:
        _DEPTH[0] -= 1
    return False


_DEPTH = [0]


def _match_direct(p: cst.CSTNode, n: cst.CSTNode, b: Bindings) -> bool:
    name = is_metavar(p)
    if name is not None:
        if not isinstance(n, cst.BaseExpression):
            return False
        if name in b:
            return code_of(b[name]) == code_of(n)
        b[name] = n
        return True
    if isinstance(p, cst.Ellipsis):
        return isinstance(n, cst.BaseExpression)
    if isinstance(n, cst.SimpleStatementLine) or isinstance(n, cst.Expr):
        unwrapped = unwrap_statement(n)
        if unwrapped is not n and not isinstance(p, (cst.SimpleStatementLine, cst.Expr)):
            n = unwrapped
    p, n = canonical(p), canonical(n)
    p_known, p_value = literal_value(p)
    n_known, n_value = literal_value(n)
    if p_known or n_known:
        if p_known and n_known:
            return _same_literal(p_value, n_value)
        if not (isinstance(p, cst.Name) or isinstance(n, cst.Name)):
            return False
    if isinstance(p, cst.Attribute) and is_metavar(p.value) and isinstance(n, cst.Name) and n.value == p.attr.value:
        return True  # `$S.flag` also reads a bare `flag` (a parameter or local holding the same setting)
    p_key, n_key = key_access(p), key_access(n)
    if p_key is not None and n_key is not None and (type(p) is not type(n) or isinstance(p, cst.Call)):
        return p_key[1] == n_key[1] and _match(p_key[0], n_key[0], b)
    if type(p) is not type(n):
        return False
    if isinstance(p, cst.Call):
        return _match(p.func, n.func, b) and _match_args(list(p.args), list(n.args), b)
    for field in dataclasses.fields(p):
        if field.name in _SKIPPED_FIELDS:
            continue
        p_value, n_value = getattr(p, field.name), getattr(n, field.name)
        if isinstance(p_value, cst.CSTNode):
            if isinstance(p_value, _token_types()) or isinstance(p_value, cst.BaseParenthesizableWhitespace):
                continue
            if isinstance(p_value, cst.BaseSuite):
                if _block_is_wildcard(p_value):
                    continue
                if not isinstance(n_value, cst.BaseSuite) or not _match_sequence(list(p_value.body), list(n_value.body), b):
                    return False
                continue
            if not isinstance(n_value, cst.CSTNode) or not _match(p_value, n_value, b):
                return False
        elif isinstance(p_value, (list, tuple)):
            if not isinstance(n_value, (list, tuple)):
                return False
            if not _match_sequence(list(p_value), list(n_value), b):
                return False
        elif p_value is None:
            if field.name in ("orelse", "returns", "asynchronous", "annotation"):
                continue
            if n_value is not None:
                return False
        elif p_value != n_value:
            return False
    return True


def _same_literal(a: object, b: object) -> bool:
    numeric = (int, float)
    if isinstance(a, bool) or isinstance(b, bool) or not (isinstance(a, numeric) and isinstance(b, numeric)):
        return type(a) is type(b) and a == b
    return a == b


def _block_is_wildcard(block: cst.BaseSuite) -> bool:
    return len(block.body) == 1 and _is_wildcard(block.body[0])


def _match_sequence(ps: list, ns: list, b: Bindings) -> bool:
    if not ps:
        return not ns
    head = ps[0]
    if _is_wildcard(head):
        for cut in range(len(ns) + 1):
            trial = dict(b)
            if _match_sequence(ps[1:], ns[cut:], trial):
                b.update(trial)
                return True
        return False
    if not ns:
        return False
    trial = dict(b)
    if _match(head, ns[0], trial) and _match_sequence(ps[1:], ns[1:], trial):
        b.update(trial)
        return True
    return False


def _match_args(ps: list[cst.Arg], ns: list[cst.Arg], b: Bindings) -> bool:
    """Positional arguments in order (with `...`), keyword arguments in any order."""
    p_positional = [a for a in ps if a.keyword is None]
    p_keywords = {a.keyword.value: a for a in ps if a.keyword is not None}
    n_positional = [a for a in ns if a.keyword is None]
    n_keywords = {a.keyword.value: a for a in ns if a.keyword is not None}
    open_ended = any(_is_wildcard(a) for a in p_positional)
    for keyword, p_arg in p_keywords.items():
        n_arg = n_keywords.get(keyword)
        if n_arg is None or not _match(p_arg.value, n_arg.value, b):
            return False
    if not open_ended and set(n_keywords) - set(p_keywords):
        return False
    return _match_sequence(p_positional, n_positional, b)


# -- search ---------------------------------------------------------------------------------
def walk(node: cst.CSTNode, module=None) -> Iterator[cst.CSTNode]:
    """Descendants in source order; pass the ParsedModule for its (much faster) child index."""
    if module is not None:
        yield from module.walk(node)
        return
    stack = [node]
    while stack:
        current = stack.pop()
        yield current
        stack.extend(reversed(current.children))




@lru_cache(maxsize=4096)
def _candidate_types(pattern: cst.CSTNode) -> frozenset | None:
    """The exact node types a pattern can match (None: any expression)."""
    if is_metavar(pattern) or isinstance(pattern, cst.Ellipsis):
        return None
    types = {type(pattern)}
    comparisons = {cst.Comparison, cst.UnaryOperation}
    if type(pattern) in comparisons:
        types |= comparisons
    if key_access(pattern) is not None:
        types |= {cst.Subscript, cst.Attribute, cst.Call}
    return frozenset(types)


@lru_cache(maxsize=4096)
def _head_test(pattern: cst.CSTNode):
    """A cheap necessary condition for `pattern` to match a node directly (no resolver), compiled once:
    `self.config.$X` rejects every attribute read that is not `<...>.config.<...>` by comparing two
    strings, before the structural match copies bindings and normalises both sides. None when the
    pattern offers no such test. It mirrors `_match_direct` case by case and may only say "no" where
    that would (tested against the full match on every node of the fixtures)."""
    if is_metavar(pattern) is not None or literal_value(pattern)[0]:
        return None
    if type(pattern) is cst.Name:
        name = pattern.value
        wrappers = (cst.SimpleStatementLine, cst.Expr)   # a statement is unwrapped before the match
        return lambda n: (type(n) is cst.Name and n.value == name) or type(n) in wrappers
    if type(pattern) is cst.Attribute:
        attr, attr_is_var = pattern.attr.value, is_metavar(pattern.attr) is not None
        value_is_var = is_metavar(pattern.value) is not None
        inner = _head_test(pattern.value)

        def attribute_test(n) -> bool:
            kind = type(n)
            if kind is cst.Attribute:
                return (attr_is_var or n.attr.value == attr) and (inner is None or inner(n.value))
            if kind is cst.Subscript or kind is cst.Call:   # `c["k"]`, `c.get("k")` read the key `c.k` reads
                key = key_access(n)
                return key is not None and key[1] == attr
            if kind is cst.Name:                           # `$S.flag` reads a bare `flag` too
                return value_is_var and n.value == attr
            return True
        return attribute_test
    if type(pattern) is cst.Subscript and key_access(pattern) is not None:
        key = key_access(pattern)[1]

        def subscript_test(n) -> bool:
            kind = type(n)
            if kind is cst.Subscript or kind is cst.Attribute or kind is cst.Call:   # one key read, three spellings
                found = key_access(n)
                return found is not None and found[1] == key
            return kind is not cst.Name
        return subscript_test
    if type(pattern) is cst.Call and key_access(pattern) is None:
        func = _head_test(pattern.func)
        if func is None:
            return None
        wrappers = (cst.SimpleStatementLine, cst.Expr)

        def call_test(n) -> bool:
            kind = type(n)
            if kind is cst.Call:
                return func(n.func)
            return kind in wrappers       # `f(x)` as a statement is unwrapped first
        return call_test
    return None


def find(pattern: cst.CSTNode, root: cst.CSTNode, module=None, follow_names: bool = False, accept=None
         ) -> Iterator[tuple[cst.CSTNode, Bindings]]:
    """Every node under `root` (root included) with the pattern's shape, in source order. With
    `follow_names` (and a resolver active) names and calls are candidates too: their values may
    have the shape (`r = batch["k"]; f(r)` contains `$B["k"]`)."""
    allowed = _candidate_types(pattern)
    if allowed is not None and follow_names and _RESOLVER.get() is not None:
        allowed = allowed | {cst.Name, cst.Attribute, cst.Call}   # their values may have the shape
    head = _head_test(pattern) if _RESOLVER.get() is None else None
    if module is not None and allowed is not None:
        candidates = module.nodes_of(set(allowed)) if root is module.tree else module.descendants(root, *allowed)
    else:
        candidates = walk(root, module)
    for node in candidates:
        if allowed is None:
            if not isinstance(node, cst.BaseExpression):
                continue
        elif type(node) not in allowed:
            continue
        if head is not None and not head(node):
            continue
        if accept is not None and not accept(node):
            continue
        bindings = match(pattern, node)
        if bindings is not None:
            yield node, bindings


def find_any(patterns: list[cst.CSTNode], root: cst.CSTNode, module=None, accept=None
             ) -> Iterator[tuple[cst.CSTNode, Bindings]]:
    """`find` for alternatives; `accept(node)`, when given, is a cheap test applied before matching."""
    seen: set[int] = set()
    for pattern in patterns:
        for node, bindings in find(pattern, root, module, accept=accept):
            if id(node) not in seen:
                seen.add(id(node))
                yield node, bindings


def mentions(node: cst.CSTNode, names: set[str], module=None) -> bool:
    """Whether an identifier or string literal in `node` equals one of `names`."""
    if module is not None and id(node) in module.order:   # the words of a subtree, collected once
        return not module.words(node).isdisjoint(names)
    for child in walk(node, module):
        if isinstance(child, cst.Name) and child.value in names:
            return True
        if isinstance(child, cst.SimpleString):
            value = string_value(child)
            if isinstance(value, str) and value in names:
                return True
    return False
