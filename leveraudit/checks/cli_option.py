"""`cli_option`: an option exists (matched by dest) and its effective default satisfies a constraint.

Accepts argparse `add_argument` (dest from `dest=` or the first long flag; store_true/store_false/
store_const defaults; `set_defaults` overrides, also on groups), typer options and arguments
(`= typer.Option(default, ...)`, `Annotated[T, typer.Option(...)] = default`, `--x/--no-x`) and
click `@click.option`. Flags compare with `-` and `_` as equals. `help_mentions` (a regex) requires
the option's help text to say something, e.g. the recommended recipe.
"""

from __future__ import annotations

import re

from leveraudit.checks.base import FAIL, PASS, CheckKind, Context, Evidence, L, Outcome, aggregate, constraint_failures
from leveraudit.extract.cli import normalize_flag
from leveraudit.extract.discover import GlobSet

_SWITCH_ACTIONS = {"store_true", "store_false", "switch", "argparse.BooleanOptionalAction", "BooleanOptionalAction"}


class CliOptionKind(CheckKind):
    kind = "cli_option"
    needs_cli = True

    def cli_dests(self, check) -> set[str]:
        dests = {check.dest}
        if check.default is not None:
            dests |= {d for d in (check.default.lt_option, check.default.le_option) if d}
        return dests

    def relevant(self, check, text: str) -> bool:
        return False  # CLI surfaces are extracted once for every check that needs them

    def evaluate(self, check, facts, ctx: Context) -> Outcome:
        files = GlobSet(check.files) if check.files else None
        options = [o for o in ctx.options(check.dest, files) if o.flags or o.action == "set_defaults"]
        flag_text = f"--{check.dest}"
        if not options:
            return Outcome(FAIL, L(f"no CLI option with dest `{check.dest}`", f"没有 dest 为 `{check.dest}` 的命令行参数"))
        statuses, evidence = [], []
        for option in options:
            shown = ", ".join(option.flags) or f"set_defaults({option.dest}=…)"
            problems_en, problems_zh = [], []
            if check.flag and normalize_flag(check.flag) not in {normalize_flag(f) for f in option.flags}:
                problems_en.append(f"flag `{check.flag}` not offered (has {shown})")
                problems_zh.append(f"没有 `{check.flag}` 这个写法（现有 {shown}）")
            if check.action:
                wanted = check.action
                ok = (option.action in _SWITCH_ACTIONS) if wanted == "switch" else (option.action == wanted)
                if not ok:
                    problems_en.append(f"action is {option.action or 'store'}, expected {wanted}")
                    problems_zh.append(f"action 为 {option.action or 'store'}，应为 {wanted}")
            if check.help_mentions and not re.search(check.help_mentions, option.help or ""):
                problems_en.append(f"its help does not say /{check.help_mentions}/ (help: {option.help or 'none'!r})")
                problems_zh.append(f"帮助文本没有说明 /{check.help_mentions}/（现为 {option.help or '无'!r}）")
            for problem in constraint_failures(check.default, option.default, option.default_known, ctx,
                                               option.program, files):
                problems_en.append(f"default `{option.default_code}`: {problem['en']}")
                problems_zh.append(f"默认值 `{option.default_code}`：{problem['zh']}")
            where = " (via set_defaults)" if option.default_line else ""
            where_zh = "（由 set_defaults 设置）" if option.default_line else ""
            if problems_en:
                status = FAIL
                message = L(f"`{shown}`: " + "; ".join(problems_en), f"`{shown}`：" + "；".join(problems_zh))
            else:
                status = PASS
                message = L(f"`{shown}` default is `{option.default_code}`{where}",
                            f"`{shown}` 默认值是 `{option.default_code}`{where_zh}")
            statuses.append(status)
            line = option.default_line or option.line
            evidence.append(Evidence(option.path, line, line, status, message))
        status = aggregate(statuses)
        summary = L(f"{flag_text}: {len([s for s in statuses if s == PASS])}/{len(statuses)} definitions satisfy the check",
                    f"{flag_text}：{len([s for s in statuses if s == PASS])}/{len(statuses)} 处定义满足要求")
        return Outcome(status, summary if len(statuses) > 1 else evidence[0].message, evidence)
