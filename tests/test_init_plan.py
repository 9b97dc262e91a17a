"""`leveraudit init --from-plan`: the draft spec agrees with the hand-written one, loads, is stable,
and each code shape of a plan maps to the check kind a reviewer would write (Fixit-style cases)."""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

import pytest
import yaml

from leveraudit.engine import run_audit
from leveraudit.plan import PlanError, draft_from_plan, render_draft
from leveraudit.ruletest import expectations, load_variants, materialize, run_fixtures
from leveraudit.spec.load import parse_spec
from tests.conftest import REPO

SEED = REPO / "rules" / "plans" / "LeverPlus_v3_RL_next_steps_2025_12_10.md"   # a copy of the seed plan
HARDENING = REPO / "tests" / "plans" / "hardening"


def draft_text(markdown: str, path: str = "PLAN.md", lang: str | None = None) -> str:
    return render_draft(draft_from_plan(textwrap.dedent(markdown), path, lang))


def draft_checks(markdown: str) -> list[dict]:
    """The checks of a one-plan draft, as the spec loader reads them (so every case also proves it loads)."""
    spec = parse_spec(draft_text(markdown), "<draft>")
    return [check.model_dump(by_alias=True, exclude_none=True) | {"item": item.id}
            for item in spec.items for check in item.checks]


def one(checks: list[dict], kind: str, level: str = "required") -> dict:
    found = [c for c in checks if c["kind"] == kind and c["level"] == level]
    assert len(found) == 1, (kind, level, checks)
    return found[0]


# -- the seed plan: the unedited draft against rules/v3.yaml -------------------------------------------

# The (tree, item) pairs where the unedited draft and rules/v3.yaml disagree: each is a requirement the
# plan states only in words the drafter does not turn into code (see README, "Drafting a spec"). A change
# that adds or removes one must update this list, so the agreement figure below cannot drift silently.
KNOWN_DISAGREEMENTS = {
    ("data::empty-query-kept", "3.3.2"),           # "a query left without candidates" vs the gen-method filter
    ("trainer::freeze-flag-overwritten", "3.5.2"),  # the flag's value reaching the trainer (not in the plan's code)
    ("trainer::optimizer-gets-every-parameter", "3.5.2"),  # "optimizer holds trainable parameters" is v3's reading
    ("trainer::help-without-the-recipe", "3.1"),    # "state the recipe in the CLI help" is prose
}


def _trees():
    """(name, root or variant, expected item verdicts): v3's verdicts, pinned by tests/test_corpus.py."""
    for name in ("research_before", "research_after"):
        root = REPO / "tests" / "fixtures" / name
        yield name, root, {k: v for k, v in expectations(root).items() if "/" not in k}
    for path in sorted((REPO / "tests" / "corpus").glob("*.variants.yaml")):
        for variant in load_variants(path):
            yield variant.name, variant, {k: v for k, v in variant.expect.items() if "/" not in k}


def test_the_unedited_draft_agrees_with_the_hand_written_spec(tmp_path):
    spec = parse_spec(render_draft(draft_from_plan(SEED.read_text(encoding="utf-8"), SEED.name)), "<draft>")
    cache = tmp_path / "cache"       # the trees share most files: parse each version once
    disagreements, pairs, flipped, caught = set(), 0, 0, 0
    for name, tree, expected in _trees():
        with tempfile.TemporaryDirectory() as scratch:
            root = tree if isinstance(tree, Path) else materialize(tree, Path(scratch))
            report, _ = run_audit(spec, root, jobs=1, cache_dir=cache)
        got = {item.id: item.status for item in report.items}
        for item_id, status in expected.items():
            pairs += 1
            if got.get(item_id) != status:
                disagreements.add((name, item_id))
            if status != "pass":     # a gap v3 finds: did the draft find it too?
                flipped += 1
                caught += got.get(item_id) == status
    assert disagreements == KNOWN_DISAGREEMENTS
    agreement = 1 - len(disagreements) / pairs
    assert pairs == 720 and agreement >= 0.99, agreement       # 716 of 720 pairs; the issue asks for 90%
    assert flipped == 46 and caught == 42, (flipped, caught)    # every gap but the four above


def test_the_seed_draft_is_deterministic_and_loads():
    text = SEED.read_text(encoding="utf-8")
    first, second = (render_draft(draft_from_plan(text, SEED.name)) for _ in range(2))
    assert first == second
    spec = parse_spec(first, "<draft>")
    assert [item.id for item in spec.items] == ["3.1", "3.2", "3.3.1", "3.3.2", "3.3.3", "3.4", "3.5.1", "3.5.2"]
    assert spec.lang == "zh" and spec.plan.date == "2025-12-10"
    # sections 0-2, 4 and 5 are status, background, roadmap and summary: listed, not drafted
    assert all(f"section {n} " in first for n in ("0", "1", "2", "4", "5"))


def test_the_draft_validates_against_the_published_schema():
    import jsonschema

    from leveraudit.spec.models import Spec

    schema = Spec.model_json_schema(by_alias=True)
    for plan in (HARDENING / "PLAN.md", SEED):
        jsonschema.validate(yaml.safe_load(draft_text(plan.read_text(encoding="utf-8"), plan.name)), schema)


# -- the second plan: English, other headings, no before/after pairs, a requirement only in prose ---------

def test_a_plan_in_another_style_drafts_a_spec_that_finds_its_planted_gaps(tmp_path):
    spec_path = tmp_path / "draft.yaml"
    spec_path.write_text(draft_text((HARDENING / "PLAN.md").read_text(encoding="utf-8")), encoding="utf-8")
    spec = parse_spec(spec_path.read_text(encoding="utf-8"), str(spec_path))
    assert spec.lang == "en" and [item.id for item in spec.items] == ["1", "2", "3", "4", "5", "6"]
    assert {item.id: item.priority for item in spec.items}["1"] == "high"   # "Priority: high"
    results = {r.name: r for r in run_fixtures(spec, HARDENING)}  # done/ and gaps/ with their expect.yaml
    assert set(results) == {"done", "gaps"}
    for result in results.values():
        assert result.ok, (result.name, result.error, result.mismatches)
    text = spec_path.read_text(encoding="utf-8")
    assert "section 7 Mixed precision" in text            # under "Part D. Later": a roadmap, not an item
    # code outside the numbered tasks (the current code, the results' JSON) is listed as context
    assert 'code block at line 10 (python) under "Part A. Where we are"' in text
    assert 'code block at line 87 (json) under "Part C. Results so far"' in text
    assert "is not Python and was skipped: this line is prose" in text


# -- code shapes -> check kinds -------------------------------------------------------------------------

def test_add_argument_drafts_a_required_dest_and_default_and_an_advisory_spelling():
    checks = draft_checks("""
        ## 1. Add an option
        ```python
        parser.add_argument("--warmup-steps", type=int, default=100, help="warm-up")
        parser.add_argument("--no_skip", dest="skip", action="store_false")
        ```
        """)
    options = [c for c in checks if c["kind"] == "cli_option"]
    required = {c["dest"]: c for c in options if c["level"] == "required"}
    assert required["warmup_steps"]["default"]["equals"] == 100 and "flag" not in required["warmup_steps"]
    assert "default" not in required["skip"]           # the implied default of a switch is the plan's spelling
    literal = {c["dest"]: c for c in options if c["level"] == "advisory"}
    assert literal["warmup_steps"]["flag"] == "--warmup-steps"
    assert literal["skip"]["action"] == "store_false" and literal["skip"]["default"]["equals"] is True


def test_a_guard_ahead_of_a_loop_drafts_guard_with_the_work_before_it_as_after():
    check = one(draft_checks("""
        ## 2. Guard the second phase
        ```python
        # train.py : Trainer.train()
        def train(self):
            if self.warmup_epochs > 0:
                ...
            if self.main_epochs <= 0:
                print("warm-up only")
                return
            for epoch in range(self.main_epochs):
                ...
        ```
        """), "guard")
    assert check["inside"] == ["Trainer.train"] and check["condition"] == "$S.main_epochs <= 0"
    assert check["exits"] == ["return"] and check["before"] == ["for $E in range(..., $S.main_epochs): ..."]
    assert check["after"] == ["if $S.warmup_epochs > 0: ..."]


def test_a_continue_in_a_loop_drafts_loop_filter_that_must_come_before_the_record():
    check = one(draft_checks("""
        ## 3. Skip bad rows
        Location: `RowDataset`
        ```python
        for row in rows:
            if self.strict and row["quality"] == "bad":
                continue
            self.kept.append(row)
        ```
        """), "loop_filter")
    assert check["inside"] == ["RowDataset"] and check["iter"] == "rows"
    assert check["condition"] == ["$S.strict", '$C["quality"] == "bad"'] and check["before"] == ["$S.kept.append(...)"]


def test_only_what_a_before_after_pair_adds_is_drafted():
    checks = draft_checks("""
        ## 4. Record how it was scored
        ```python
        # before:
        c["score"] = score
        # after:
        c["score"] = score
        c["mode"] = "exact" if exact else "fuzzy"
        ```
        """)
    keys = [c for c in checks if c["kind"] == "assigns_key"]
    assert {c["key"] for c in keys} == {"mode"}                   # `score` is unchanged: no check
    required = one(checks, "assigns_key")
    assert required["derived_from"] == {"condition": ["exact", "$S.exact"], "then": "exact", "else": "fuzzy"}
    assert one(checks, "assigns_key", "advisory")["values"] == ["exact", "fuzzy"]


def test_an_elided_signature_drafts_the_parameter_and_an_advisory_default():
    checks = draft_checks("""
        ## 5. A new switch
        Location: `Loader.__init__`
        ```python
        def __init__(self, ..., strict: bool = True):
            self.strict = strict
        ```
        """)
    assert one(checks, "param") == one(checks, "param") and one(checks, "param")["function"] == "Loader.__init__"
    literal = one(checks, "param", "advisory")
    assert literal["annotation"] == "bool" and literal["default"]["equals"] is True
    assert one(checks, "attribute", "advisory")["class"] == ["Loader"]   # it only stores the parameter


def test_a_call_with_elided_arguments_drafts_call_kwarg_on_every_call():
    check = one(draft_checks("""
        ## 6. Pass the switch on
        ```python
        train = Loader(..., strict=args.strict)
        val = Loader(..., strict=args.strict)
        ```
        """), "call_kwarg")
    assert (check["callee"], check["keyword"], check["value"], check["min_count"]) == ("Loader", "strict", "$A.strict", 2)


def test_a_checked_load_drafts_checked_load_with_the_plan_s_locations():
    checks = draft_checks("""
        ## 7. Check the checkpoint
        Where:
        - `models/load.py → load_model`
        - `train.py → if args.ckpt: ...`
        ```python
        missing, unexpected = model.load_state_dict(sd, strict=False)
        if missing:
            print("missing", missing)
        if unexpected:
            print("unexpected", unexpected)
        if len(missing) > 1000:
            raise RuntimeError("mismatch")
        ```
        """)
    load = one(checks, "checked_load")
    assert load["inside"] == ["load_model"] and load["mentions"] == ["ckpt"] and load["min_count"] == 2
    assert load["require"] == ["kept_result", "reports_missing", "reports_unexpected", "raises_on_missing"]
    threshold = one(checks, "pattern", "advisory")        # an exact constant: the plan's letter, advisory
    assert threshold["pattern"] == ["len($M) > 1000"]


def test_an_if_else_choosing_a_value_drafts_branch_used_by_its_consumer():
    check = one(draft_checks("""
        ## 8. Choose the reward
        ```python
        if self.use_raw:
            r = batch["raw"].to(device)
        else:
            r = batch["norm"].to(device)
        loss = self.model.ranking_loss(x, r)
        ```
        """), "branch")
    assert (check["condition"], check["then"], check["else"]) == ("$S.use_raw", '$B["raw"]', '$B["norm"]')
    assert check["used_by"] == ["*ranking_loss"]


def test_a_state_switched_off_under_a_flag_drafts_a_pattern_inside_that_flag():
    check = one(draft_checks("""
        ## 9. Freeze
        ```python
        if args.freeze:
            for p in model.encoder.parameters():
                p.requires_grad = False
        ```
        """), "pattern")
    assert check["pattern"] == ["$P.requires_grad = False", "$P.requires_grad_(False)"]
    assert check["inside"] == "if $T.freeze: ..."


def test_flags_and_values_in_prose_become_options_and_conflicting_pins_are_resolved():
    text = draft_text("""
        ## 1. Defaults
        - Recommended defaults: `--main_epochs 0 --warmup_epochs 5`.

        ## 2. Smaller steps
        Default hyper-parameters:
        - `main_epochs`: start with **1~3**, not 10.
        - `main_lr`: below warmup, e.g.:
          - main: `3e-5` or `1e-5`
        """)
    spec = parse_spec(text, "<draft>")
    by_item = {item.id: [c.model_dump(by_alias=True, exclude_none=True) for c in item.checks] for item in spec.items}
    first = {c["dest"]: c["default"] for c in by_item["1"] if c["kind"] == "cli_option"}
    assert first == {"main_epochs": {"equals": 0}, "warmup_epochs": {"equals": 5}}
    second = {(c["dest"], c["level"]): c["default"] for c in by_item["2"]}
    # item 1 pins main_epochs to 0: item 2 keeps the bound 0 meets, and its literal range only as advisory
    assert second[("main_epochs", "required")] == {"le": 3}
    assert second[("main_epochs", "advisory")] == {"ge": 1, "le": 3}
    assert second[("main_lr", "required")] == {"le": 3e-5, "lt_option": "warmup_lr"}
    assert "conflicts with 1" in text


def test_a_bold_numbered_list_splits_a_section_into_items():
    spec = parse_spec(draft_text("""
        ## 3. Make it safer
        ### 3.5 Two things
        1. **Add a flag**

        ```python
        parser.add_argument("--a", default=1)
        ```

        2. **Add another**

        ```python
        parser.add_argument("--b", default=2)
        ```
        """), "<draft>")
    assert [(item.id, item.title.get("en")) for item in spec.items] == [("3.5.1", "Add a flag"), ("3.5.2", "Add another")]


def test_pseudo_code_is_read_around_what_does_not_parse_and_the_rest_is_reported():
    text = draft_text("""
        ## 1. Add an option
        ```python
        parser.add_argument("--x", default=1)
        then wire it through the trainer like before
        y = (
        ```
        ```text
        not code
        ```
        """)
    assert "dest: x" in text
    assert "line 5 of a code block is not Python and was skipped: then wire it" in text
    assert "line 6 of a code block is not Python and was skipped: y = (" in text
    assert "1: code block at line 8 (text): not Python" in text


# -- the command ----------------------------------------------------------------------------------------

def _init(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "leveraudit", "init", *args], capture_output=True, text=True, cwd=cwd)


def test_init_writes_atomically_refuses_to_overwrite_and_checks_at_once(tmp_path):
    plan = HARDENING / "PLAN.md"
    out = tmp_path / "draft.yaml"
    done = _init("--from-plan", str(plan), "-o", str(out))
    assert done.returncode == 0, done.stderr
    assert out.read_text(encoding="utf-8") == draft_text(plan.read_text(encoding="utf-8"), str(plan))
    assert "drafted 6 item(s)" in done.stderr
    again = _init("--from-plan", str(plan), "-o", str(out))
    assert again.returncode == 2 and "exists; pass --force" in again.stderr
    checked = _init("--from-plan", str(plan), "-o", str(out), "--force", "--check", str(HARDENING / "gaps"))
    assert checked.returncode == 1, checked.stderr          # the gaps fail the gate
    assert "Clip gradients" in checked.stdout and "1/6 items implemented" in checked.stdout
    stdout = _init("--from-plan", str(plan), "--check", str(HARDENING / "done"))
    assert stdout.returncode == 0
    yaml.safe_load(stdout.stdout)                           # the draft alone on stdout, the report on stderr
    assert "6/6 items implemented" in stdout.stderr


def test_init_lang_sets_the_report_language_and_keeps_the_plan_s_texts():
    text = draft_text((HARDENING / "PLAN.md").read_text(encoding="utf-8"), lang="zh")
    spec = parse_spec(text, "<draft>")
    assert spec.lang == "zh" and spec.items[0].title.en == "Clip gradients"


@pytest.mark.parametrize("content, culprit", [
    ("", "no numbered section"),
    ("# Notes\n\nJust prose, no numbered headings.\n", "no numbered section"),
    ("## 1. Background\n\n```python\nx = 1\n```\n", "no numbered section"),
    ("## 1. a\x00b\n", "NUL"),
])
def test_a_plan_that_states_nothing_is_refused_in_one_line(content, culprit):
    with pytest.raises(PlanError, match=culprit):
        draft_from_plan(content, "p.md")


def test_a_heading_in_both_languages_gives_both_titles_and_a_table_states_priorities():
    spec = parse_spec(draft_text("""
        # 计划

        | 编号 | 优先级 |
        |---|---|
        | 3.1 | 高 |
        | 3.2 | low |

        ## 3. 修改

        ### 3.1 增加参数 / Add the option

        ```python
        parser.add_argument("--x", default=1)
        ```

        ### 3.2 再加一个（Add another one）

        ```python
        parser.add_argument("--y", default=2)
        ```

        ### 3.3 第三个参数

        ```python
        parser.add_argument("--z", default=3)
        ```
        """), "<draft>")
    items = {item.id: item for item in spec.items}
    assert (items["3.1"].title.zh, items["3.1"].title.en) == ("增加参数", "Add the option")
    assert (items["3.2"].title.zh, items["3.2"].title.en) == ("再加一个", "Add another one")
    assert items["3.3"].title.en is None                       # left for the user
    assert [items[i].priority for i in ("3.1", "3.2", "3.3")] == ["high", "low", "medium"]


def test_explain_knows_every_check_the_draft_writes(tmp_path):
    from typer.testing import CliRunner

    from leveraudit.cli import app

    path = tmp_path / "draft.yaml"
    path.write_text(draft_text(SEED.read_text(encoding="utf-8"), SEED.name), encoding="utf-8")
    spec = parse_spec(path.read_text(encoding="utf-8"), str(path))
    for item in spec.items:
        for index, check in enumerate(item.checks):
            check_id = item.check_id(index)
            shown = CliRunner().invoke(app, ["explain", check_id, "--spec", str(path), "--lang", "en"])
            assert shown.exit_code == 0 and check_id in shown.output, shown.output
            assert CliRunner().invoke(app, ["explain", check.kind]).exit_code == 0
