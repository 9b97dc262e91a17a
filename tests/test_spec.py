"""Spec loading: strict models, errors that name the file, line and field, did-you-mean."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from leveraudit.cli import app
from leveraudit.spec import SpecError, load_spec, parse_spec
from leveraudit.spec.load import all_errors

BASE = """\
version: 1
title: t
items:
  - id: "1"
    title: x
    priority: high
    checks:
{checks}
"""


def spec_text(checks: str) -> str:
    return BASE.format(checks=checks)


def error_of(text: str) -> str:
    with pytest.raises(SpecError) as info:
        parse_spec(text, "s.yaml")
    return str(info.value)


def test_v3_spec_loads_with_the_plan_items(v3_spec):
    assert [i.id for i in v3_spec.items] == ["3.1", "3.2", "3.3.1", "3.3.2", "3.3.3", "3.4", "3.5.1", "3.5.2"]
    assert v3_spec.items[0].title.get("zh") == "把 RCE-only 明确固化成 v3 默认训练方式"
    assert all(item.title.get("en") for item in v3_spec.items)


def test_default_check_ids():
    spec = parse_spec(spec_text("      - kind: cli_option\n        dest: a\n      - kind: cli_option\n        dest: b\n"
                                "      - kind: param\n        function: f\n        name: x\n"))
    assert [check_id for _, check_id, _ in spec.iter_checks()] == ["1/cli_option#1", "1/cli_option#2", "1/param#1"]


def test_unknown_kind_names_line_and_suggests():
    message = error_of(spec_text("      - kind: cli_opton\n        dest: a\n"))
    assert message.startswith("s.yaml:8: items[0].checks[0].kind: unknown check kind 'cli_opton'")
    assert "did you mean 'cli_option'" in message


def test_unknown_key_names_line_and_suggests():
    message = error_of(spec_text("      - kind: cli_option\n        dset: a\n"))
    errors = all_errors(spec_text("      - kind: cli_option\n        dset: a\n"), "s.yaml")
    assert "s.yaml:9: items[0].checks[0].dset: unknown key; did you mean 'dest'?" in errors
    assert message.startswith("s.yaml:")


def test_wrong_type_names_the_field():
    message = error_of(spec_text("      - kind: call_kwarg\n        callee: f\n        keyword: k\n        min_count: many\n"))
    assert message.startswith("s.yaml:11: items[0].checks[0].min_count:")


def test_item_without_required_check_is_rejected():
    message = error_of(spec_text("      - kind: cli_option\n        dest: a\n        level: advisory\n"))
    assert "no required check" in message and message.startswith("s.yaml:4:")


def test_yaml_that_does_not_parse():
    message = error_of("version: 1\ntitle: [unclosed\n")
    assert message.startswith("s.yaml:") and "YAML does not parse" in message


def test_yaml_tags_are_not_constructed():
    message = error_of("version: 1\ntitle: !!python/object/apply:os.system ['echo pwned']\nitems: []\n")
    assert message == "s.yaml:2: YAML tag 'tag:yaml.org,2002:python/object/apply:os.system' is not allowed in a spec"


def test_duplicate_ids_are_rejected():
    text = spec_text("      - kind: cli_option\n        id: x\n        dest: a\n      - kind: cli_option\n        id: x\n        dest: b\n")
    assert "duplicate id 'x'" in error_of(text)


def test_missing_file():
    with pytest.raises(SpecError, match="not found"):
        load_spec("/nonexistent/spec.yaml")


def test_schema_command_prints_a_json_schema_that_accepts_v3():
    import jsonschema
    import yaml

    result = CliRunner().invoke(app, ["schema"])
    assert result.exit_code == 0
    schema = json.loads(result.stdout)
    from tests.conftest import V3
    jsonschema.validate(yaml.safe_load(V3.read_text(encoding="utf-8")), schema)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate({"version": 1, "title": "t", "items": [], "bogus": 1}, schema)


def test_patterns_and_regexes_are_validated_at_load_with_their_line():
    import pytest

    from leveraudit.spec import SpecError, parse_spec

    bad_pattern = ("version: 1\ntitle: t\nitems:\n  - id: A\n    title: t\n    priority: high\n    checks:\n"
                   "      - kind: guard\n        inside: T.train\n        condition: \"$S.n <=\"\n"
                   "        before: [\"for $E in x: ...\"]\n")
    with pytest.raises(SpecError, match=r"^<spec>:10: items\[0\]\.checks\[0\]\.condition: pattern does not parse"):
        parse_spec(bad_pattern)
    bad_regex = ("version: 1\ntitle: t\nitems:\n  - id: A\n    title: t\n    priority: high\n    checks:\n"
                 "      - kind: pattern\n        pattern: [\"print(...)\"]\n        mentions: \"(unclosed\"\n")
    with pytest.raises(SpecError, match=r"^<spec>:10: items\[0\]\.checks\[0\]\.mentions: not a valid regex"):
        parse_spec(bad_regex)


# -- the schema accepts everything the loader accepts --------------------------------------------------
def _schema() -> dict:
    result = CliRunner().invoke(app, ["schema"])
    assert result.exit_code == 0
    return json.loads(result.stdout)


def _loader_accepts(document: dict) -> bool:
    import yaml

    try:
        parse_spec(yaml.safe_dump(document, allow_unicode=True, sort_keys=False))
        return True
    except SpecError:
        return False


def _schema_accepts(document: dict, schema: dict) -> bool:
    import jsonschema

    return jsonschema.Draft202012Validator(schema).is_valid(document)


def _readme_examples() -> list[dict]:
    """Every YAML example of the README; a fragment (no `version`) is completed with a minimal spec."""
    import re

    import yaml

    from tests.conftest import REPO

    base = {"version": 1, "title": "t", "items": [{"id": "1", "title": "t", "priority": "high",
                                                    "checks": [{"kind": "param", "function": "f", "name": "x"}]}]}
    examples = []
    for block in re.findall(r"```yaml\n(.*?)```", (REPO / "README.md").read_text(encoding="utf-8"), re.S):
        document = yaml.safe_load(block)
        if "version" not in document:
            merged = {**base, **document}
            if "items" in document:  # a fragment of an item: complete it with the base item's fields
                merged["items"] = [{**base["items"][0], **item} for item in document["items"]]
            document = merged
        examples.append(document)
    return examples


def _variants_of(document: dict):
    """The same spec spelled every other way the loader allows: plain strings for two-language texts,
    one value for a one-or-many list."""
    import copy

    plain = copy.deepcopy(document)
    for item in plain["items"]:
        item["title"] = item["title"]["en"] if isinstance(item["title"], dict) else item["title"]
        for check in item["checks"]:
            for key in ("title", "message"):
                if isinstance(check.get(key), dict):
                    check[key] = check[key].get("en") or check[key].get("zh")
            for key, value in list(check.items()):
                if isinstance(value, list) and len(value) == 1 and isinstance(value[0], str):
                    check[key] = value[0]
    yield plain


def test_the_schema_never_rejects_what_the_loader_accepts():
    import yaml

    from tests.conftest import V3

    schema = _schema()
    v3 = yaml.safe_load(V3.read_text(encoding="utf-8"))
    documents = [*_readme_examples(), v3, *_variants_of(v3)]
    assert len(documents) >= 5
    accepted = 0
    for document in documents:
        if _loader_accepts(document):
            accepted += 1
            assert _schema_accepts(document, schema), json.dumps(document)[:300]
    assert accepted >= 3, "the README's full example, rules/v3.yaml and its plain spelling load"
    assert not _schema_accepts({**v3, "version": 2}, schema), "the schema knows only version 1 exists"
