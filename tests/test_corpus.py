"""The variant corpus: meaning-preserving rewrites keep every verdict of their base tree, breaking
changes flip exactly the items they break (tests/corpus/*.variants.yaml, run by `leveraudit test`)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from leveraudit.ruletest import load_variants, run_fixtures, run_variant
from tests.conftest import REPO

CORPUS = REPO / "tests" / "corpus"
VARIANTS = [v for path in sorted(CORPUS.glob("*.variants.yaml")) for v in load_variants(path)]


@pytest.mark.parametrize("variant", VARIANTS, ids=[v.name for v in VARIANTS])
def test_variant_verdicts(v3_spec, variant):
    result = run_variant(v3_spec, variant)
    assert result.ok, (variant.why, result.error, result.mismatches)


def test_corpus_covers_both_kinds():
    kinds = Counter(v.kind for v in VARIANTS)
    assert kinds["rewrite"] >= 30 and kinds["breaking"] >= 30, kinds
    assert len({v.name for v in VARIANTS}) == len(VARIANTS)
    # every breaking variant pins a changed verdict for at least one item
    base = {key: status for key, status in VARIANTS[0].expect.items()}
    for variant in VARIANTS:
        if variant.kind == "breaking":
            assert any(variant.expect[k] != base.get(k) for k in variant.expect if "/" not in k), variant.name


def test_an_edit_that_does_not_apply_is_an_error(tmp_path, v3_spec):
    path = tmp_path / "x.variants.yaml"
    path.write_text(f"base: {REPO / 'tests/fixtures/research_after'}\nvariants:\n"
                    "  - name: typo\n    edits: [{file: lever_lm/workflows/grpo_post_train.py, replace: 'no such text', with: ''}]\n",
                    encoding="utf-8")
    [result] = [r for r in run_fixtures(v3_spec, tmp_path)]
    assert not result.ok and "occurs 0 time(s)" in result.error


def test_a_rewrite_may_not_change_an_item(tmp_path):
    path = tmp_path / "x.variants.yaml"
    path.write_text(f"base: {REPO / 'tests/fixtures/research_after'}\nvariants:\n"
                    "  - {name: sneaky, kind: rewrite, expect: {items: {'3.1': fail}}}\n", encoding="utf-8")
    with pytest.raises(ValueError, match="keeps every item"):
        load_variants(path)


def test_edit_paths_stay_inside_the_tree(tmp_path, v3_spec):
    path = tmp_path / "x.variants.yaml"
    path.write_text(f"base: {REPO / 'tests/fixtures/research_after'}\nvariants:\n"
                    "  - {name: escape, edits: [{file: ../../outside.py, create: 'x = 1'}]}\n", encoding="utf-8")
    [result] = run_fixtures(v3_spec, tmp_path)
    assert "inside the tree" in result.error
    assert not (tmp_path.parent / "outside.py").exists()


def test_cli_runs_variants_and_fails_on_a_wrong_expectation(tmp_path):
    import subprocess
    import sys

    base = REPO / "tests/fixtures/research_after"
    (tmp_path / "a.variants.yaml").write_text(
        f"base: {base}\nvariants:\n"
        "  - {name: fine, kind: rewrite}\n"
        "  - name: wrong\n    kind: breaking\n"
        "    edits: [{file: lever_lm/workflows/grpo_post_train.py, replace: 'default=0, help=\"GRPO', with: 'default=3, help=\"GRPO'}]\n"
        "    expect: {items: {'3.1': pass, '3.4': partial}}\n", encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "leveraudit", "test", str(tmp_path), "--spec", str(REPO / "rules/v3.yaml")],
                          capture_output=True, text=True)
    assert done.returncode == 1, done.stdout + done.stderr
    assert "ok    a::fine" in done.stdout
    assert "3.1: expected pass, got partial" in done.stdout and "3.4: expected partial, got pass" in done.stdout
    assert "1 passed, 1 failed" in done.stdout
