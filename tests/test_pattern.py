"""The structural matcher: metavariables, wildcards and the normalisations the docs promise."""

import libcst as cst
import pytest

from leveraudit.extract.pattern import PatternError, code_of, compile_pattern, find


def matches(pattern: str, code: str) -> list[str]:
    return [code_of(node) for node, _ in find(compile_pattern(pattern), cst.parse_module(code))]


@pytest.mark.parametrize("code", ["x.n <= 0", "0 >= x.n", "x.n < 1", "not x.n > 0", "(x.n) <= (0)", "x.n<=0"])
def test_comparisons_normalise_to_one_guard(code):
    assert matches("$A.n <= 0", f"if {code}:\n    pass\n")


@pytest.mark.parametrize("code", ["x.n < 2", "x.n <= 1", "x.n > 0", "x.n == 0", "0.5 >= x.n"])
def test_other_comparisons_do_not_match(code):
    assert not matches("$A.n <= 0", f"if {code}:\n    pass\n")


@pytest.mark.parametrize("code", ['c["mode"]', "c['mode']", 'c.get("mode")', 'c.get("mode", None)', "c.mode"])
def test_key_reads_are_one_shape(code):
    assert matches("$C['mode'] == 'fallback'", f"ok = {code} == \"fallback\"\n")


def test_key_reads_need_the_same_key():
    assert not matches("$C['mode'] == 'fallback'", 'ok = c["other"] == "fallback"\n')
    assert not matches("$C['mode'] == 'fallback'", 'ok = c["mode"] == "file"\n')


def test_metavariables_must_bind_consistently():
    assert matches("$X == $X", "a == a\n") == ["a == a"]
    assert matches("$X == $X", "a == b\n") == []


def test_keyword_arguments_in_any_order_and_wildcards():
    code = "f(1, 2, b=3, a=4)\n"
    assert matches("f(..., a=4, b=3)", code)
    assert matches("f(1, ..., a=$V)", code)
    assert not matches("f(1, a=4)", code), "without ... extra keywords must not match"
    assert not matches("f(..., c=1)", code)


def test_statement_patterns_with_block_wildcards():
    code = "for e in range(start, cfg.grpo_epochs):\n    step()\nfor e in range(3):\n    pass\n"
    assert matches("for $I in range(..., $X.grpo_epochs): ...", code) == [
        "for e in range(start, cfg.grpo_epochs): step()"]


def test_string_quoting_and_number_spelling_do_not_matter():
    assert matches("x == 'a'", 'y = x == "a"\n')
    assert matches("lr(1e-5)", "lr(0.00001)\n")
    assert not matches("flag(True)", "flag(1)\n"), "booleans are not integers"


def test_pattern_that_does_not_parse_is_a_clear_error():
    with pytest.raises(PatternError, match="does not parse"):
        compile_pattern("if (:")


HEAD_PATTERNS = ["self.config.$X", "super().__init__(...)", "torch.load(...)", "$M.load_state_dict(...)", "$S.lr",
                 "cfg.lr", "c.get('mode')", "$C['mode']", "args", "model.train()", "$F(...)", "a.b.c(...)",
                 "os.path.join($A, ...)", "self.x"]
HEAD_CODE = '''\
import torch, os
class M(Base):
    def __init__(self, config, lr=1e-3):
        super().__init__()
        super(M, self).__init__(config)
        self.config = config
        self.x = self.config.hidden + self.config["hidden"] + self.config.get("hidden")
        lr = cfg.lr or cfg["lr"] or cfg.get("lr", 0.1) or lr
        state = torch.load(os.path.join(root, "x.pt"), weights_only=True)
        self.model.load_state_dict(state, strict=False)
        a.b.c(1); a.b.c; a["b"].c(); x = c.get("mode") or c["mode"] or c.mode
        model.train(); args
'''


@pytest.fixture(scope="module")
def sample_nodes():
    from pathlib import Path

    from leveraudit.extract.pattern import walk

    sources = [HEAD_CODE] + [p.read_text(encoding="utf-8")
                             for p in sorted((Path(__file__).parent / "fixtures").rglob("*.py"))[:25]]
    return [node for source in sources for node in walk(cst.parse_module(source))]


@pytest.mark.parametrize("pattern", HEAD_PATTERNS)
def test_head_test_never_rejects_what_the_full_match_accepts(pattern, sample_nodes):
    """The compiled pre-test may only say no where the structural match would: checked on every node of
    the research fixtures and a file of near misses."""
    from leveraudit.extract.pattern import _head_test, match

    compiled = compile_pattern(pattern)
    head = _head_test(compiled)
    accepted = rejected = 0
    for node in sample_nodes:
        full = match(compiled, node) is not None
        accepted += full
        if head is not None and not head(node):
            rejected += 1
            assert not full, (pattern, code_of(node))
    assert accepted, pattern          # the sample holds real matches for every pattern
    if pattern not in ("$F(...)", "c.get('mode')"):   # a call of anything, or a key read, offers none
        assert rejected, pattern


SNIPPETS = ["$X is None", "self.config.$X", "super().__init__(...)", "if $X:\n    ...", "x = 1; y = 2", "a\nb",
            "def (", "return $Y", "for $X in $Y:\n    ...", "lambda: (", "print >>f, x", "x := 1", "f(**)", "a b",
            "", "   ", "async with x:\n    ...", "match x:\n    case 1:\n        ...", "(yield)", "await x", "*a",
            "a, *b = c", "del x", "x: int = 3", "@d\ndef f():\n    ...", "import a.b as c", "from . import x",
            "global x", "raise", "break", "$F(weights_only=True)", "x[1:2, ...]", "f'{x!r:>{w}}'", "if x:\npass",
            "try:\n    ...\nexcept* E:\n    ...", "(" * 200 + ")" * 200, "a +" * 3, "0x", "1_000", "'''open"]


@pytest.mark.parametrize("text", SNIPPETS)
def test_a_spec_snippet_is_refused_at_load_exactly_when_it_does_not_compile(text):
    # the spec loader checks snippets with CPython's parser, so that loading needs no libcst (lazy.py)
    from leveraudit.extract.pattern import PatternError, check_pattern, compile_pattern

    def outcome(function):
        try:
            function(text)
        except PatternError as exc:
            return str(exc)
        return None

    compiled = outcome(compile_pattern)
    assert outcome(check_pattern) == compiled
