"""A draft as YAML a person can review: comments cite the plan's lines, `# review:` marks what a
person must decide, and the summary at the end lists what produced no check. Output is
deterministic (no dates, no dict-order surprises): the same plan gives the same bytes."""

from __future__ import annotations

import json
import re

import yaml

from leveraudit.plan.draft import Draft, DraftCheck

# what a YAML stream may hold: PyYAML refuses other characters anywhere, comments included, and
# treats \r, NEL and the Unicode separators as line breaks (which would break a block's indentation)
_NOT_PRINTABLE = re.compile("[^\x09\x0a\x20-\x7e\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")
_BREAKS = re.compile("[\r\x85\u2028\u2029]")


def clean(text: str) -> str:
    return _NOT_PRINTABLE.sub("\ufffd", _BREAKS.sub(" ", str(text)).replace("\ufeff", ""))


_PLAIN = re.compile(r"^[A-Za-z_][\w./*\-]*$")


def _scalar(value) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and "e" in repr(value) and "." not in repr(value):
        return repr(value).replace("e", ".0e")      # YAML 1.1 reads `3e-05` as a string
    if isinstance(value, (int, float)):
        text = repr(value)
        return text if yaml.safe_load(text) == value else json.dumps(str(value))
    text = str(value)
    if _PLAIN.match(text):
        try:
            if yaml.safe_load(text) == text:
                return text
        except yaml.YAMLError:
            pass
    return json.dumps(clean(text), ensure_ascii=False)


def _flow(value) -> str:
    if isinstance(value, dict):
        return "{" + ", ".join(f"{_scalar(k)}: {_flow(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_flow(v) for v in value) + "]"
    return _scalar(value)


def _field(name: str, value, indent: str) -> list[str]:
    if isinstance(value, str) and "\n" in value:
        body = [f"{indent}  {clean(line)}" if line else "" for line in value.rstrip("\n").split("\n")]
        return [f"{indent}{name}: |2"] + body
    if isinstance(value, list) and any(isinstance(v, str) and "\n" in v for v in value):
        lines = [f"{indent}{name}:"]
        for entry in value:
            if isinstance(entry, str) and "\n" in entry:
                lines.append(f"{indent}  - |2")
                lines += [f"{indent}    {clean(line)}" for line in entry.rstrip("\n").split("\n")]
            else:
                lines.append(f"{indent}  - {_flow(entry)}")
        return lines
    return [f"{indent}{name}: {_flow(value)}"]


def _comment(text: str, indent: str) -> str:
    return f"{indent}# " + " ".join(clean(text).split())


def _check(check: DraftCheck, lang: str) -> list[str]:
    indent = "      "
    lines = [_comment(f"plan line {check.line}: {check.source}", indent)] if check.source else []
    if check.review:
        lines.append(_comment(f"review: {check.review}", indent))
    fields = dict(check.fields)
    first = True
    for name, value in fields.items():
        if name == "title" and isinstance(value, str):
            value = {lang: value}
        elif name == "title" and isinstance(value, dict):   # the report's language first
            value = {k: value[k] for k in sorted(value, key=lambda k: k != lang)}
        rendered = _field(name, value, indent + "  ")
        if first:
            rendered[0] = f"{indent}- " + rendered[0].lstrip()
            first = False
        lines += rendered
    return lines


def render_draft(draft: Draft) -> str:
    lang, plan_lang = draft.lang, draft.plan_lang
    other = "en" if plan_lang == "zh" else "zh"
    out = [
        f"# Drafted by `leveraudit init --from-plan {draft.plan_path}`: review every `# review:` line,",
        "# then run `leveraudit check ROOT --spec THIS_FILE`. Required checks decide an item; advisory",
        "# ones record the plan's literal wording. Every check cites the plan line it comes from.",
        "version: 1",
        "title:",
        f"  {plan_lang}: {_scalar(draft.title)}",
        f"  # {other}: (a translation, if reports in {other} are wanted)",
        f"lang: {lang}",
        "plan:",
        f"  title: {_scalar(draft.title)}",
        f"  path: {_scalar(draft.plan_path)}",
    ]
    if draft.date:
        out.append(f"  date: {json.dumps(draft.date)}")
    out += [
        'include: ["**/*.py"]',
        'exclude: [".venv/**", "venv/**", "build/**", "dist/**", "tests/**", "**/tests/**"]',
    ]
    if draft.programs:
        out += ["", "# The files the plan names, as programs: an entry file and what it imports inside the tree.",
                "# Copies beside them (train_v2.py, *_old.py) do not decide an item.", "programs:"]
        for name, entries in draft.programs.items():
            out += [f"  {name}:", f"    entry: {_flow(entries)}"]
    out += ["", "items:"]
    for item in draft.items:
        out.append(f"  # plan line {item.line}")
        out.append(f"  - id: {json.dumps(item.id)}")
        if not item.priority_stated:
            out.append("    # review: the plan states no priority for this item")
        out.append(f"    priority: {item.priority}")
        out.append("    title:")
        for language in (plan_lang, other):
            if language in item.titles:
                out.append(f"      {language}: {_scalar(item.titles[language])}")
            else:
                out.append(f"      # {language}: (translate)")
        if item.requirement:
            # `|2`: the text may start with an indented line, which must not set the block's indentation
            out += ["    requirement:", f"      {draft.plan_lang}: |2"]
            out += [f"        {clean(line)}".rstrip() for line in item.requirement.split("\n")]
        if item.programs:
            out.append(f"    programs: {_flow(item.programs)}")
        else:
            out.append("    # review: the plan names no file for this item, so code anywhere in the tree decides it")
        out.append("    checks:")
        for check in item.checks:
            out += _check(check, lang)
    if draft.summary:
        out += ["", "# Summary: what in the plan produced no check, and why."]
        out += [_comment(line, "") for line in draft.summary]
    return "\n".join(out) + "\n"
