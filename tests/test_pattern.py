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
