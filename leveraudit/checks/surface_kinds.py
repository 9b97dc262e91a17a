"""Config-surface lints: the code is rarely alone. Scripts launch it with flags, YAML configs restate
its defaults, docs tell people which flags to pass; these kinds catch them drifting apart.

* `invocations_valid` — in shell scripts and fenced shell blocks of Markdown, every flag passed to a
  program of the repository (`python x.py`, `python -m pkg.mod`, console scripts and their typer
  sub-commands) exists (argparse's unique prefixes allowed), with the nearest real flag as hint; and a
  passed value must satisfy `pinned` (a script always passing `--grpo_epochs 3` against the plan's 0).
* `config_matches_cli` — in YAML configs, a key named like an option's dest must equal the option's
  effective default; with `pinned`, the side that disagrees with the plan is named stale; a config no
  code mentions is reported as never loaded.
* `docs_flags_exist` — every `--flag` in inline code of Markdown prose is defined by some program.
"""

from __future__ import annotations

import yaml

from leveraudit.checks.base import FAIL, PASS, CheckKind, Context, Evidence, L, Outcome, constraint_failures, join
from leveraudit.extract.cli import CliOption
from leveraudit.extract.invocations import inline_flags

_SWITCH_OFF = ("--no-", "--no_")


def passed_value(option: CliOption, flag: str, value: str | None):
    """(known, value) that passing `flag` gives the option."""
    if option.action in ("store_true", "store_false", "switch", "store_const") or option.type == "bool":
        if option.action == "store_false" or flag.startswith(_SWITCH_OFF):
            return True, False
        return True, True
    if value is None:
        return False, None
    try:
        loaded = yaml.safe_load(value)
    except yaml.YAMLError:
        return True, value
    return True, loaded


class SurfaceKind(CheckKind):
    """Reads scripts, docs and configs through `ctx.surface`; no Python file is scanned for it."""

    def relevant(self, check, text):
        return False


class InvocationsValidKind(SurfaceKind):
    kind = "invocations_valid"
    def evaluate(self, check, facts, ctx: Context) -> Outcome:
        from leveraudit.extract.discover import GlobSet

        surface = ctx.surface
        evidence: list[Evidence] = []
        programs = GlobSet(check.programs) if check.programs else None
        count = 0
        for invocation in surface.invocations(check.scripts, check.docs):
            program = surface.resolve(invocation)
            if program is None or not program.options or (programs and not programs.matches(program.path)):
                continue
            count += 1
            for argument in invocation.arguments:
                if argument.flag in ("-h", "--help"):
                    continue
                option = program.option_for(argument.flag)
                code = f"{program.label} {argument.flag} {argument.value or ''}".strip()
                if option is None:
                    hint = program.nearest(argument.flag)
                    evidence.append(Evidence(invocation.path, argument.line, argument.line, FAIL, L(
                        f"`{program.label}` has no option `{argument.flag}`" + (f"; did you mean `{hint}`?" if hint else ""),
                        f"`{program.label}` 没有参数 `{argument.flag}`" + (f"；是否应为 `{hint}`？" if hint else "")), code))
                    continue
                pin = check.pinned.get(option.dest)
                if pin is None:
                    continue
                known, value = passed_value(option, argument.flag, argument.value)
                problems = constraint_failures(pin, value, known)
                if problems:
                    shown = argument.flag + (f" {argument.value}" if argument.value and option.type != "bool" else "")
                    evidence.append(Evidence(invocation.path, argument.line, argument.line, FAIL, L(
                        f"`{shown}` overrides the plan's default for `{option.dest}` ({pin.describe()}): " + join(problems)["en"],
                        f"`{shown}` 覆盖了文档要求的 `{option.dest}` 默认值（{pin.describe()}）：" + join(problems)["zh"]), code))
        if evidence:
            return Outcome(FAIL, L(f"{len(evidence)} problem(s) in invocations of the repository's programs",
                                   f"调用本仓库程序的脚本或文档中有 {len(evidence)} 处问题"), evidence)
        return Outcome(PASS, L(f"{count} invocation(s) checked, every flag exists",
                               f"检查了 {count} 处调用，所有参数均存在"))


class ConfigMatchesCliKind(SurfaceKind):
    kind = "config_matches_cli"
    def evaluate(self, check, facts, ctx: Context) -> Outcome:
        surface = ctx.surface
        evidence: list[Evidence] = []
        configs = [s for s in surface.files(check.configs)]
        entries = []  # (source, key, value, line)
        for source in configs:
            try:  # composed, never constructed: tags build nothing, aliases expand nothing
                node = yaml.compose(source.text, Loader=yaml.SafeLoader)
            except (yaml.YAMLError, RecursionError):  # broken or nested deeper than the parser recurses
                continue
            if not isinstance(node, yaml.MappingNode):
                continue
            for key_node, value_node in node.value:
                if isinstance(key_node, yaml.ScalarNode) and isinstance(value_node, yaml.ScalarNode):
                    try:
                        value = yaml.safe_load(yaml.serialize(value_node))
                    except yaml.YAMLError:  # a tag the safe loader refuses (`!!python/name:...`)
                        continue
                    entries.append((source, key_node.value, value, key_node.start_mark.line + 1))
        options = surface.options_by_dest({key for _, key, _, _ in entries})
        loaded_names = None
        for source, key, value, line in entries:
            for option in options.get(key, []):
                # an unset (None) default is filled by configs on purpose; only real defaults can disagree
                if not option.default_known or option.default is None or _same(option.default, value):
                    continue
                if loaded_names is None:
                    loaded_names = _mentioned_names(surface)
                pin = check.pinned.get(key)
                stale_en = stale_zh = ""
                if pin is not None:
                    yaml_bad = bool(constraint_failures(pin, value, True))
                    cli_bad = bool(constraint_failures(pin, option.default, True))
                    if yaml_bad and not cli_bad:
                        stale_en, stale_zh = "; the YAML is stale (the plan says " + pin.describe() + ")", "；YAML 已过时（文档要求 " + pin.describe() + "）"
                    elif cli_bad and not yaml_bad:
                        stale_en, stale_zh = "; the CLI default is stale (the plan says " + pin.describe() + ")", "；命令行默认值已过时（文档要求 " + pin.describe() + "）"
                unused_en = unused_zh = ""
                if source.rel.rsplit("/", 1)[-1] not in loaded_names:
                    unused_en, unused_zh = "; no code mentions this file, so its value never applies", "；没有代码读取该文件，其值不会生效"
                evidence.append(Evidence(source.rel, line, line, FAIL, L(
                    f"`{key}: {value!r}` but `{option.flags[0] if option.flags else key}` defaults to "
                    f"`{option.default_code}` ({option.path}:{option.default_line or option.line}){stale_en}{unused_en}",
                    f"`{key}: {value!r}`，而 `{option.flags[0] if option.flags else key}` 默认值为 `{option.default_code}`"
                    f"（{option.path}:{option.default_line or option.line}）{stale_zh}{unused_zh}"), f"{key}: {value!r}"))
        if evidence:
            return Outcome(FAIL, L(f"{len(evidence)} config value(s) disagree with the CLI defaults",
                                   f"{len(evidence)} 处配置与命令行默认值不一致"), evidence)
        return Outcome(PASS, L(f"{len(configs)} config file(s) agree with the CLI defaults",
                               f"{len(configs)} 个配置文件与命令行默认值一致"))


def _mentioned_names(surface) -> str:
    """All text of code and scripts, to see whether a config's file name is mentioned anywhere."""
    return "\n".join(s.text for s in surface.files(["**/*.py", "**/*.sh", "**/*.bash"]))


def _same(a, b) -> bool:
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    return a == b


class DocsFlagsExistKind(SurfaceKind):
    kind = "docs_flags_exist"
    def evaluate(self, check, facts, ctx: Context) -> Outcome:
        surface = ctx.surface
        mentions = []
        for source in surface.files(check.docs):
            _, spans = surface.markdown_parts(source)
            mentions += [(source.rel, flag, line) for flag, line in inline_flags(spans) if flag not in check.ignore]
        programs = surface.programs_with_flags({flag for _, flag, _ in mentions})
        evidence = []
        for path, flag, line in mentions:
            if flag in ("--help",) or any(p.option_for(flag) is not None for p in programs):
                continue
            hints = [h for h in (p.nearest(flag) for p in programs) if h]
            hint = hints[0] if hints else None
            evidence.append(Evidence(path, line, line, FAIL, L(
                f"`{flag}` is documented but no program defines it" + (f"; the code has `{hint}`" if hint else ""),
                f"文档提到了 `{flag}`，但没有程序定义它" + (f"；代码中是 `{hint}`" if hint else "")), flag))
        if evidence:
            return Outcome(FAIL, L(f"{len(evidence)} documented flag(s) do not exist", f"文档中有 {len(evidence)} 个参数不存在"),
                           evidence)
        return Outcome(PASS, L(f"{len(mentions)} documented flag(s) exist", f"文档中的 {len(mentions)} 个参数均存在"))
