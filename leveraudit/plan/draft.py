"""From a plan's sections to draft items and checks.

Three sources, in order of confidence:
- code shapes in the plan's Python blocks (for a before/after pair, only what the change adds or
  alters): `add_argument` -> `cli_option`, `self.x = v` -> `attribute`, `if C: ... return` ahead
  of a loop -> `guard`, `for c in X: if C: continue` -> `loop_filter`, `d["k"] = v` ->
  `assigns_key`, a parameter added to an elided `def f(..., p)` -> `param`, `Cls(..., k=args.k)`
  -> `call_kwarg`, a checked `load_state_dict(..., strict=False)` -> `checked_load`, `if flag:
  x = a else: x = b` -> `branch`, flag-guarded state changes -> `pattern`; prints and exact
  constants -> advisory patterns;
- location hints (`file.py → function`, `# file.py : Class.method()`, "修改位置：`Cls.m`") ->
  `inside` scopes and program entries;
- flags and values in prose (`--a 5 --b 0` as the recommended defaults, "`x`: 1~3", "比 RCE 再小")
  -> `cli_option` checks, marked for review.
Everything the drafter is unsure of carries a `review` reason; what produced nothing is listed in
the summary.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import libcst as cst
from libcst.metadata import MetadataWrapper, PositionProvider

from leveraudit.analysis.cfg import terminator
from leveraudit.plan.fences import AFTER_MARK, BEFORE_MARK, PYTHON, ParseBudget, ParsedBlock, parse_block, split_before_after
from leveraudit.plan.outline import Block, Section, bilingual, read_outline

MAX_PLAN_BYTES = 4 * 1024 * 1024
MAX_ITEMS = 300       # a plan is read by people; more numbered sections than this is not one plan
MAX_CHECKS = 2000     # and the draft must stay a spec the loader accepts


class PlanError(ValueError):
    """The plan cannot be drafted from (one line, exit 2)."""


@dataclass
class DraftCheck:
    fields: dict
    line: int
    source: str = ""          # the plan text it was drafted from
    review: str = ""          # why a person should look at it
    name: str = ""            # what the check id says, when the fields do not name it

    @property
    def kind(self) -> str:
        return self.fields["kind"]

    @property
    def required(self) -> bool:
        return self.fields.get("level", "required") == "required"

    def key(self) -> tuple:
        ignored = {"id", "level", "title", "message"}
        return tuple((k, repr(v)) for k, v in self.fields.items() if k not in ignored)


@dataclass
class DraftItem:
    id: str
    title: str
    line: int
    titles: dict[str, str] = field(default_factory=dict)   # per language, as the plan gives them
    priority: str = "medium"
    priority_stated: bool = False
    requirement: str = ""
    programs: list[str] = field(default_factory=list)
    checks: list[DraftCheck] = field(default_factory=list)


@dataclass
class Draft:
    title: str
    lang: str                 # the report language (`lang:`)
    plan_lang: str            # the language the plan is written in (its texts are kept as they are)
    plan_path: str
    date: str | None
    programs: dict[str, list[str]]
    items: list[DraftItem]
    summary: list[str]


# -- classifying sections --------------------------------------------------------------------

_NOT_A_REQUIREMENT = re.compile(
    r"现状|背景|总结|结果|为什么|原因|路线|规划|中期|长期|远期|不需要立刻|已经做到|回顾|附录|一页纸|"
    r"\b(background|status|summary|results?|why|roadmap|future|later|overview|motivation|context|appendix|"
    r"retrospective|findings|notes?)\b", re.I)
_NO_CODE_NOW = re.compile(r"不需要立刻改|暂不改|无需改代码|no code change|not (?:to be done|for) now|later work", re.I)
_REQUIREMENT_WORDS = re.compile(
    r"修改|改动|改造|修复|增加|添加|加一个|加入|暴露|实现|需要|建议|应该|必须|保护|检查|"
    r"\b(change|fix|add|expose|implement|must|should|require[sd]?|guard|check|record|default)\b", re.I)
_PRIORITY = re.compile(r"(?:优先级|priority)\s*[:：]?\s*\**\s*(高|中|低|high|medium|low|p0|p1|p2)", re.I)
_PRIORITY_WORDS = {"高": "high", "中": "medium", "低": "low", "high": "high", "medium": "medium", "low": "low",
                   "p0": "high", "p1": "medium", "p2": "low"}
_LOCATION = re.compile(r"^\W{0,4}(修改位置|文件位置|代码位置|位置|location|where|files?|in file)\b", re.I)
_CJK = re.compile(r"[\u3400-\u9fff]")
_DATE = re.compile(r"(20\d\d)[-_./](\d\d)[-_./](\d\d)")


def detect_lang(text: str) -> str:
    return "zh" if len(_CJK.findall(text)) >= 20 else "en"


# -- names in the plan -------------------------------------------------------------------------

_FILE = re.compile(r"(?<![\w./-])((?:[\w.-]+/)*[\w.-]+\.py)\b")
_IDENT = re.compile(r"^[A-Za-z_]\w*$")
_QUALIFIED = re.compile(r"^([A-Za-z_]\w*)\.([A-Za-z_]\w*)(?:\(\))?$")
_CAMEL = re.compile(r"^_?[A-Z][A-Za-z0-9]*[a-z][A-Za-z0-9]*$")   # GRPOTrainer, not RCE
_NOT_CLASSES = {"True", "False", "None", "Python", "JSON", "Markdown"}
_FLAG = re.compile(r"(?<![\w-])--([A-Za-z][\w-]*)")
_SELF_ATTR = re.compile(r"^self\.([A-Za-z_]\w*)$")
_NUMBER = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:e[-+]?\d+)?"
# "`--x` defaults to `1.0`", "`x` 默认值为 `3`"
_DEFAULTS_TO = re.compile(rf"`(--)?([A-Za-z_][\w-]*)`[^`\n]{{0,40}}?(?:defaults? to|默认值?(?:为|是|改为|设为)?)\s*"
                          rf"`?({_NUMBER}|true|false|True|False)`?", re.I)
# "比 RCE 再小一档", "below warmup": a bound by another option of the same family
_BELOW = re.compile(r"比\s*([A-Za-z]+)\s*(?:再)?(?:小|低)|(?:below|lower than|smaller than|under)\s+(?:the\s+)?([A-Za-z]+)", re.I)
# "a query left with no candidate is skipped"
_LEFT_EMPTY = re.compile(r"没有任何|为空|空的|no (?:candidates?|items?|samples?) (?:left|remain)|(?:left|is|becomes) empty",
                         re.I)


def _dest(flag: str) -> str:
    return flag.replace("-", "_")


def _literal(text: str):
    lowered = text.lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text


class Names:
    """Files, classes and functions the whole plan mentions, and which file holds which symbol."""

    def __init__(self, outline: Section) -> None:
        self.paths: list[str] = []
        self.symbol_file: dict[str, str] = {}
        self.flags: set[str] = set()
        weak: dict[str, str] = {}
        for section in outline.walk():
            heading_files = _FILE.findall(section.title)
            for block in section.blocks:
                texts = list(block.spans) if block.kind != "fence" else _comment_lines(block.text)
                for text in texts:
                    self._note_paths(text)
                if block.kind != "fence":
                    self.flags.update(_dest(f) for span in block.spans for f in _FLAG.findall(span))
                for text in texts:
                    self._pair(text)
                files = [f for t in texts for f in _FILE.findall(t)]
                if files:
                    for symbol in _symbols(block):
                        self.symbol_file.setdefault(symbol, files[0])
                if heading_files:
                    for symbol in _symbols(block):
                        weak.setdefault(symbol, heading_files[0])
            for path in heading_files:
                self._note_paths(path)
        for symbol, path in weak.items():
            self.symbol_file.setdefault(symbol, path)
        self.stems = {p.rsplit("/", 1)[-1][:-3] for p in self.paths}

    def _note_paths(self, text: str) -> None:
        for path in _FILE.findall(text):
            if path not in self.paths:
                self.paths.append(path)

    def _pair(self, text: str) -> None:
        files = _FILE.findall(text)
        if not files:
            return
        rest = _FILE.sub(" ", text)
        for word in re.findall(r"[A-Za-z_][\w.]*", rest):
            head = word.split(".")[0]
            if _is_class(head):
                self.symbol_file.setdefault(head, files[0])

    def resolve(self, path: str) -> str:
        """A bare `grpo_post_train.py` is the full path the plan gives elsewhere, if it gives one."""
        if "/" in path:
            return path
        full = [p for p in self.paths if p.endswith("/" + path)]
        return full[0] if len(full) == 1 else path


def _title(en: str, zh: str) -> dict:
    return {"zh": zh, "en": en}


def _literal_title(code: str) -> dict:
    return _title(f"the plan's literal `{code}`", f"文档写法：`{code}`")


def _is_class(name: str) -> bool:
    return bool(_CAMEL.match(name)) and name not in _NOT_CLASSES


def _comment_lines(code: str) -> list[str]:
    return [line.strip().lstrip("#").strip() for line in code.split("\n") if line.strip().startswith("#")]


def _symbols(block: Block) -> list[str]:
    found = []
    for span in block.spans:
        head = re.split(r"[.(]", span.strip(), maxsplit=1)[0]
        if _is_class(head) and head not in found:
            found.append(head)
    return found


# -- generalising code into patterns ---------------------------------------------------------

class _Metavariables(cst.CSTTransformer):
    """The root name of every attribute / subscript chain (and chosen locals) becomes `$X`."""

    def __init__(self, names: dict[str, str], generalize: set[str]) -> None:
        self.names = names
        self.generalize = generalize

    def _letter(self, name: str) -> str:
        if name not in self.names:
            base = {"self": "S", "args": "A", "cls": "K"}.get(name, name.lstrip("_")[:1].upper() or "X")
            letter, n = base, 2
            while letter in self.names.values():
                letter, n = f"{base}{n}", n + 1
            self.names[name] = letter
        return self.names[name]

    def _placeholder(self, node: cst.BaseExpression) -> cst.BaseExpression:
        if isinstance(node, cst.Name) and node.value not in ("True", "False", "None"):
            return cst.Name(f"__mv_{self._letter(node.value)}__")
        return node

    def leave_Attribute(self, original, updated):
        return updated.with_changes(value=self._placeholder(updated.value))

    def leave_Subscript(self, original, updated):
        return updated.with_changes(value=self._placeholder(updated.value))

    def leave_Arg(self, original, updated):
        if isinstance(updated.value, cst.Name) and updated.value.value in self.generalize:
            return updated.with_changes(value=self._placeholder(updated.value))
        return updated

    def leave_Comparison(self, original, updated):
        if isinstance(updated.left, cst.Name) and updated.left.value in self.generalize:
            return updated.with_changes(left=self._placeholder(updated.left))
        return updated

    def leave_ComparisonTarget(self, original, updated):
        if isinstance(updated.comparator, cst.Name) and updated.comparator.value in self.generalize:
            return updated.with_changes(comparator=self._placeholder(updated.comparator))
        return updated


def pattern_of(node: cst.CSTNode, names: dict[str, str] | None = None, generalize: set[str] = frozenset()) -> str:
    names = {} if names is None else names
    changed = node.visit(_Metavariables(names, set(generalize)))
    code = cst.Module([]).code_for_node(changed).strip()
    return re.sub(r"__mv_(\w+?)__", r"$\1", code)


def _code(node: cst.CSTNode) -> str:
    return " ".join(cst.Module([]).code_for_node(node).split())


def _callee_name(call: cst.Call) -> str:
    func = call.func
    if isinstance(func, cst.Name):
        return func.value
    if isinstance(func, cst.Attribute):
        return func.attr.value
    return ""


def _string(node) -> str | None:
    if isinstance(node, cst.SimpleString):
        return node.evaluated_value if isinstance(node.evaluated_value, str) else None
    if isinstance(node, cst.ConcatenatedString):
        value = node.evaluated_value
        return value if isinstance(value, str) else None
    return None


def _constant(node):
    """(True, value) for a literal the YAML can hold."""
    if isinstance(node, cst.Name) and node.value in ("True", "False", "None"):
        return True, {"True": True, "False": False, "None": None}[node.value]
    if isinstance(node, cst.Integer):
        return True, int(node.value.replace("_", ""), 0)
    if isinstance(node, cst.Float):
        return True, float(node.value.replace("_", ""))
    if isinstance(node, cst.UnaryOperation) and isinstance(node.operator, cst.Minus):
        ok, value = _constant(node.expression)
        if ok and isinstance(value, (int, float)) and not isinstance(value, bool):
            return True, -value
    text = _string(node)
    if text is not None:
        return True, text
    return False, None


def _exits(body: cst.BaseSuite) -> str | None:
    """How a block leaves, when its last statement does (`return`, `raise`, `continue`, `break`)."""
    statements = body.body if isinstance(body, cst.IndentedBlock) else [body]
    last = statements[-1] if statements else None
    small = last.body if isinstance(last, (cst.SimpleStatementLine, cst.SimpleStatementSuite)) else []
    return terminator(small[-1]) if small else None


def _calls_in(node: cst.CSTNode) -> list[cst.Call]:
    found: list[cst.Call] = []

    class _Collect(cst.CSTVisitor):
        def visit_Call(self, call):
            found.append(call)

    node.visit(_Collect())
    return found


def _names_in(node: cst.CSTNode) -> set[str]:
    found: set[str] = set()

    class _Collect(cst.CSTVisitor):
        def visit_Name(self, name):
            found.add(name.value)

    node.visit(_Collect())
    return found


def _conjuncts(test: cst.BaseExpression) -> list[cst.BaseExpression]:
    if isinstance(test, cst.BooleanOperation) and isinstance(test.operator, cst.And):
        return _conjuncts(test.left) + _conjuncts(test.right)
    return [test]


def _is_ellipsis_body(node) -> bool:
    return all(isinstance(s, cst.SimpleStatementLine) and all(
        isinstance(x, cst.Expr) and isinstance(x.value, cst.Ellipsis) for x in s.body) for s in node.body.body) \
        if isinstance(getattr(node, "body", None), cst.IndentedBlock) else False


_PRINTS = ["print(...)", "$C.print(...)", "log(...)", "$L.log(...)", "$L.info(...)", "$L.warning(...)",
           "echo(...)", "$T.echo(...)"]
_NOTICE_CALLS = ["print", "*.print", "log", "*.log", "*.info", "*.warning", "warn", "*.warn", "echo", "*.echo"]


@dataclass
class _Context:
    cls: str | None = None
    function: str | None = None
    params: tuple[str, ...] = ()
    loops: tuple[cst.For, ...] = ()
    conditions: tuple[cst.BaseExpression, ...] = ()


class Shapes:
    """Checks drafted from one parsed block of one item."""

    def __init__(self, block: ParsedBlock, item: "_ItemHints", intro: str) -> None:
        self.block = block
        self.item = item
        self.intro = intro
        self.checks: list[DraftCheck] = []
        self.wrapper = MetadataWrapper(block.module, unsafe_skip_copy=True)
        self.positions = self.wrapper.resolve(PositionProvider)
        self.module = self.wrapper.module
        self.loads: list[cst.Call] = []
        self.printed_names: list[tuple[cst.CSTNode, list[str]]] = []   # prints the plan asks for

    # helpers
    def line(self, node: cst.CSTNode) -> int:
        position = self.positions.get(node)
        return self.block.plan_line(position.start.line) if position else self.block.first_line

    def add(self, node: cst.CSTNode, fields: dict, review: str = "", name: str = "") -> None:
        self.checks.append(DraftCheck(fields, self.line(node), _code(node)[:120], review, name))

    def scope(self, ctx: _Context, method: bool = False) -> str | None:
        cls = ctx.cls or self.item.cls
        if ctx.function:
            method = method or ctx.params[:1] in (("self",), ("cls",))
            return f"{cls}.{ctx.function}" if cls and method else ctx.function
        return None

    # walking
    def run(self, statements=None) -> list[DraftCheck]:
        self.walk(list(self.module.body) if statements is None else statements, _Context(
            cls=self.item.cls, function=self.item.function_of_block(self.block)))
        return self.checks

    def walk(self, statements: list, ctx: _Context) -> None:
        for index, statement in enumerate(statements):
            after = statements[index + 1:]
            before = statements[:index]
            if isinstance(statement, cst.ClassDef):
                self.walk(list(statement.body.body), _Context(cls=statement.name.value))
            elif isinstance(statement, cst.FunctionDef):
                self.function(statement, ctx)
            elif isinstance(statement, cst.If):
                self.if_statement(statement, ctx, before, after)
            elif isinstance(statement, (cst.For, cst.While)):
                inner = ctx if isinstance(statement, cst.While) else _Context(
                    ctx.cls, ctx.function, ctx.params, ctx.loops + (statement,), ctx.conditions)
                self.walk(list(statement.body.body) if isinstance(statement.body, cst.IndentedBlock) else [], inner)
            elif isinstance(statement, (cst.With, cst.Try)):
                self.walk(list(statement.body.body) if isinstance(statement.body, cst.IndentedBlock) else [], ctx)
            elif isinstance(statement, cst.SimpleStatementLine):
                for small in statement.body:
                    self.simple(small, statement, ctx, after)

    def function(self, node: cst.FunctionDef, ctx: _Context) -> None:
        params = [p.name.value for p in (*node.params.posonly_params, *node.params.params, *node.params.kwonly_params)]
        inner = _Context(ctx.cls, node.name.value, tuple(params))
        position = self.positions.get(node)
        elided = position is not None and any(position.start.line <= line <= position.start.line + 3
                                              for line in self.block.elided_defs)
        qualified = self.scope(inner, method=elided)    # `def __init__(..., new)`: `self` was elided too
        if elided and qualified:
            for param in (*node.params.params, *node.params.kwonly_params):
                name = param.name.value
                if name in ("self", "cls"):
                    continue
                self.add(param, {"kind": "param", "function": qualified, "name": name})
                literal = {}
                if param.annotation is not None:
                    literal["annotation"] = _code(param.annotation.annotation)
                if param.default is not None:
                    ok, value = _constant(param.default)
                    if ok:
                        literal["default"] = {"equals": value}
                if literal:
                    self.add(param, {"kind": "param", "level": "advisory", "function": qualified, "name": name,
                                     "title": _literal_title(_code(param).rstrip(", ")), **literal})
        self.walk(list(node.body.body) if isinstance(node.body, cst.IndentedBlock) else [], inner)

    def if_statement(self, node: cst.If, ctx: _Context, before: list, after: list) -> None:
        exit_kind = _exits(node.body)
        names: dict[str, str] = {}
        condition = pattern_of(node.test, names)
        inside = self.scope(ctx)
        loops_after = [s for s in after if isinstance(s, (cst.For, cst.While))]
        handled = False
        if exit_kind in ("return", "raise") and loops_after and node.orelse is None and inside:
            loop = loops_after[0]
            fields = {"kind": "guard", "inside": inside, "condition": condition, "exits": [exit_kind],
                      "before": [self.loop_pattern(loop, names)]}
            earlier = [s for s in before if not _is_ellipsis_statement(s)]
            if earlier and isinstance(earlier[-1], (cst.If, cst.For, cst.While)):
                fields["after"] = [self.header_pattern(earlier[-1], names)]
            self.add(node, fields)
            calls = [_callee_name(c) for c in _calls_in(node.body)]
            if any(name in ("print", "log", "info", "warning", "warn", "echo") for name in calls):
                self.add(node, {"kind": "guard", "level": "advisory", "title": _title("the guard prints a notice", "保护分支打印提示"),
                                "inside": inside, "condition": condition, "exits": [exit_kind],
                                "before": fields["before"], "body_calls": list(_NOTICE_CALLS)})
            handled = True
        elif exit_kind == "continue" and ctx.loops and node.orelse is None:
            self.loop_filter(node, ctx, after)
            handled = True
        elif node.orelse is not None and isinstance(node.orelse, cst.Else):
            handled = self.branch(node, ctx, after)
        if not handled and not _is_ellipsis_body(node):   # `if x > 0: ...` only sets the scene
            self.constants_in_test(node, ctx)
        inner = _Context(ctx.cls, ctx.function, ctx.params, ctx.loops, ctx.conditions + (node.test,))
        if not handled or exit_kind is None:
            self.walk(list(node.body.body) if isinstance(node.body, cst.IndentedBlock) else [], inner)
            if isinstance(node.orelse, cst.Else) and not handled:
                self.walk(list(node.orelse.body.body), inner)

    def loop_pattern(self, loop, names) -> str:
        if isinstance(loop, cst.For):
            target = "$" + loop.target.value.lstrip("_")[:1].upper() if isinstance(loop.target, cst.Name) \
                else pattern_of(loop.target, {})
            iterable = loop.iter
            if isinstance(iterable, cst.Call) and _callee_name(iterable) == "range" and iterable.args:
                last = pattern_of(iterable.args[-1].value, names)
                return f"for {target} in range(..., {last}): ..."
            return f"for {target} in {pattern_of(iterable, names)}: ..."
        return f"while {pattern_of(loop.test, names)}: ..."

    def header_pattern(self, statement, names) -> str:
        if isinstance(statement, cst.If):
            return f"if {pattern_of(statement.test, names)}: ..."
        return self.loop_pattern(statement, names)

    def loop_filter(self, node: cst.If, ctx: _Context, after: list) -> None:
        loop = ctx.loops[-1]
        targets = _names_in(loop.target)
        names = {t: "C" for t in targets} if len(targets) == 1 else {}
        conditions = [pattern_of(part, names) for part in _conjuncts(node.test)]
        inside = self.item.cls or self.scope(ctx)
        review = "" if inside else "the plan names no class or function for this loop; say where it lives"
        fields = {"kind": "loop_filter", "inside": inside or "*"}
        if isinstance(loop.iter, cst.Name):
            fields["iter"] = loop.iter.value
        elif not isinstance(loop.iter, cst.Ellipsis):
            fields["iter"] = pattern_of(loop.iter, {})
        fields["condition"] = conditions
        records = [call for statement in after for call in _calls_in(statement)
                   if _callee_name(call) in ("append", "extend", "add", "write", "update")
                   and isinstance(call.func, cst.Attribute)]
        if records:   # the item must be skipped before it is recorded, not after
            fields["before"] = [f"{pattern_of(records[0].func, {})}(...)"]
        self.add(node, fields, review)

    def branch(self, node: cst.If, ctx: _Context, after: list) -> bool:
        then_target, then_value = _single_assignment(node.body)
        else_target, else_value = _single_assignment(node.orelse.body)
        if not then_target or then_target != else_target:
            return False
        names: dict[str, str] = {}
        fields = {"kind": "branch", "condition": pattern_of(node.test, names),
                  "then": pattern_of(_subject(then_value), {}), "else": pattern_of(_subject(else_value), {})}
        users = [call for statement in after for call in _calls_in(statement)
                 if any(then_target in _names_in(arg.value) for arg in call.args)]
        if users:
            fields["used_by"] = [f"*{_callee_name(users[0])}"]
        self.add(node, fields)
        return True

    def constants_in_test(self, node: cst.If, ctx: _Context) -> None:
        for part in _conjuncts(node.test):
            if isinstance(part, cst.Comparison):
                literals = [c for c in [part.left, *(t.comparator for t in part.comparisons)]
                            if isinstance(c, (cst.Integer, cst.Float)) or _string(c) is not None]
                if literals and not any(isinstance(t.operator, (cst.Is, cst.IsNot)) for t in part.comparisons):
                    local = _names_in(part) - {"len", "self", "args"}
                    fields = {"kind": "pattern", "level": "advisory",
                              "title": _literal_title(_code(part)),
                              "pattern": [pattern_of(part, {}, local)]}
                    scopes = self.item.scopes()
                    if scopes:
                        fields["scope"] = scopes
                    elif ctx.conditions:
                        fields["inside"] = f"if {pattern_of(ctx.conditions[-1], {})}: ..."
                    if ctx.conditions and "scope" in fields:
                        fields["inside"] = f"if {pattern_of(ctx.conditions[-1], {})}: ..."
                    self.add(part, fields, "an exact constant from the plan: keep it only if the value itself matters",
                             name="constant")

    def simple(self, node, line_node, ctx: _Context, after: list) -> None:
        if isinstance(node, (cst.Assign, cst.AnnAssign)):
            targets = [t.target for t in node.targets] if isinstance(node, cst.Assign) else [node.target]
            value = node.value
            for target in targets:
                self.assignment(node, target, value, ctx, after)
        for call in _calls_in(node):
            name = _callee_name(call)
            if name == "add_argument":
                self.option(call)
            elif name == "load_state_dict" and call not in self.loads:
                self.loads.append(call)
                self.load(node, call, after)
            elif name in ("print", "info", "log", "warning", "echo") and isinstance(node, cst.Expr) and not ctx.conditions:
                self.printed(node, call)
            elif _is_class(name) and any(isinstance(a.value, cst.Ellipsis) for a in call.args if a.keyword is None):
                for arg in call.args:
                    if arg.keyword is not None and isinstance(arg.value, (cst.Attribute, cst.Name)):
                        value = pattern_of(arg.value, {"args": "A", "self": "A", "config": "A", "cfg": "A"})
                        self.add(call, {"kind": "call_kwarg", "callee": name, "keyword": arg.keyword.value,
                                        "value": value})

    def assignment(self, node, target, value, ctx: _Context, after: list) -> None:
        if value is None:
            return
        if isinstance(target, cst.Attribute) and isinstance(target.value, cst.Name):
            root = target.value.value
            ok, constant = _constant(value)
            if ctx.conditions and ok and isinstance(constant, bool):
                if constant is False:   # a state switched off under a flag: what the plan asks for
                    fields = {"kind": "pattern", "pattern": [f"$P.{target.attr.value} = False",
                                                             f"$P.{target.attr.value}_(False)"],
                              "inside": f"if {pattern_of(_flag_condition(ctx.conditions), {'args': 'T', 'self': 'T'})}: ..."}
                    self.add(node, fields, name=f"sets-{target.attr.value}-false")
                return
            cls = ctx.cls or self.item.cls
            if root == "self" and cls:
                fields = {"kind": "attribute", "class": cls, "name": target.attr.value}
                if isinstance(value, cst.Name) and value.value in ctx.params:
                    # it only stores a new parameter, which its `param` check already requires
                    fields = {"kind": "attribute", "level": "advisory",
                              "title": _title("the new parameter is kept on the object", "新参数保存在对象上"),
                              "class": cls, "name": target.attr.value}
                self.add(node, fields)
        elif isinstance(target, cst.Subscript) and len(target.slice) == 1:
            element = target.slice[0].slice
            key = _string(element.value) if isinstance(element, cst.Index) else None
            if key is None:
                return
            fields = {"kind": "assigns_key", "key": key}
            literal_values = None
            if isinstance(value, cst.IfExp):
                then_ok, then_value = _constant(value.body)
                else_ok, else_value = _constant(value.orelse)
                if then_ok and else_ok:
                    test = value.test
                    conditions = [pattern_of(test, {})]
                    if isinstance(test, cst.Name):
                        conditions.append(f"$S.{test.value}")
                    fields["derived_from"] = {"condition": conditions, "then": then_value, "else": else_value}
                    literal_values = [then_value, else_value]
            else:
                ok, constant = _constant(value)
                if ok:
                    literal_values = [constant]
            self.add(node, fields)
            if literal_values is not None:
                self.add(node, {"kind": "assigns_key", "level": "advisory",
                                "title": _title(f"the plan's literal values of `{key}`", f"文档写法：`{key}` 的取值"),
                                "key": key, "values": literal_values})

    def option(self, call: cst.Call) -> None:
        flags = [s for s in (_string(a.value) for a in call.args if a.keyword is None) if s and s.startswith("-")]
        keywords = {a.keyword.value: a.value for a in call.args if a.keyword is not None}
        long_flags = [f for f in flags if f.startswith("--")]
        dest = _string(keywords["dest"]) if "dest" in keywords else None
        if dest is None and long_flags:
            dest = _dest(long_flags[0][2:])
        if not dest:
            return
        fields = {"kind": "cli_option", "dest": dest}
        if "default" in keywords:
            ok, value = _constant(keywords["default"])
            if ok:
                fields["default"] = {"equals": value}
        self.add(call, fields)
        literal = {}
        if long_flags:
            literal["flag"] = long_flags[0]
        action = _string(keywords.get("action")) if "action" in keywords else None
        if action:
            literal["action"] = action
            if action in ("store_true", "store_false") and "default" not in keywords:
                literal["default"] = {"equals": action == "store_false"}
        if literal:
            self.add(call, {"kind": "cli_option", "level": "advisory",
                            "title": _title("the plan's literal spelling of the option", "文档写法：参数的拼写与默认值"),
                            "dest": dest, **literal})

    def load(self, node, call: cst.Call, after: list) -> None:
        targets = []
        if isinstance(node, cst.Assign):
            target = node.targets[0].target
            if isinstance(target, (cst.Tuple, cst.List)):
                targets = [e.value.value for e in target.elements if isinstance(e.value, cst.Name)]
            elif isinstance(target, cst.Name):
                targets = [target.value]
        if not targets:
            return
        missing = targets[0]
        unexpected = targets[1] if len(targets) > 1 else None
        require = ["kept_result"]
        reports = {"reports_missing": False, "reports_unexpected": False, "raises_on_missing": False}
        for statement in after:
            if not isinstance(statement, cst.If):
                continue
            names = _names_in(statement.test)
            calls = {_callee_name(c) for c in _calls_in(statement.body)}
            raises = _exits(statement.body) == "raise" or any(
                isinstance(s, cst.SimpleStatementLine) and any(isinstance(x, cst.Raise) for x in s.body)
                for s in statement.body.body)
            if missing in names and calls & {"print", "info", "warning", "warn", "log", "echo"}:
                reports["reports_missing"] = True
            if unexpected and unexpected in names and calls & {"print", "info", "warning", "warn", "log", "echo"}:
                reports["reports_unexpected"] = True
            if missing in names and raises:
                reports["raises_on_missing"] = True
        require += [k for k, v in reports.items() if v]
        fields = {"kind": "checked_load", "calls": ["load_state_dict"]}
        inside, mentions = self.item.load_scopes()
        review = ""
        if inside:
            fields["inside"] = inside
        if mentions:
            fields["mentions"] = mentions
        if not inside and not mentions:
            fields["inside"] = [self.scope(_Context()) or "*"]
            review = "the plan names no function for these loads; narrow `inside`"
        places = len(inside) + len(mentions)
        if places > 1:
            fields["min_count"] = places
        if require != ["kept_result", "reports_missing", "reports_unexpected", "raises_on_missing"]:
            fields["require"] = require
        self.add(node, fields, review)

    def printed(self, node, call: cst.Call) -> None:
        if not re.search(r"打印|输出|统计|print|log|report|show", self.intro, re.I):
            return
        counted = sorted({n for arg in call.args for n in _formatted_names(arg.value)})
        if not counted:
            return
        self.printed_names.append((node, counted))


def _formatted_names(node) -> set[str]:
    found: set[str] = set()
    if isinstance(node, cst.FormattedString):
        for part in node.parts:
            if isinstance(part, cst.FormattedStringExpression):
                found |= {n for n in _names_in(part.expression) if n not in ("len", "round", "str", "int", "float")}
    return found


def _is_ellipsis_statement(statement) -> bool:
    return isinstance(statement, cst.SimpleStatementLine) and all(
        isinstance(x, cst.Expr) and isinstance(x.value, cst.Ellipsis) for x in statement.body)


def _single_assignment(body) -> tuple[str | None, cst.BaseExpression | None]:
    statements = [s for s in body.body if not _is_ellipsis_statement(s)]
    if len(statements) != 1 or not isinstance(statements[0], cst.SimpleStatementLine):
        return None, None
    [small] = statements[0].body if len(statements[0].body) == 1 else [None]
    if isinstance(small, cst.Assign) and len(small.targets) == 1 and isinstance(small.targets[0].target, cst.Name):
        return small.targets[0].target.value, small.value
    return None, None


def _subject(value: cst.BaseExpression) -> cst.BaseExpression:
    """`batch["k"].to(device)`: the subscript is what the branch chooses; `.to()` moves it."""
    node = value
    while isinstance(node, cst.Call) and isinstance(node.func, cst.Attribute):
        node = node.func.value
    return node if isinstance(node, cst.Subscript) else value


def _flag_condition(conditions) -> cst.BaseExpression:
    """The outermost condition that reads a flag (`args.x` / `self.x`): what the state change hangs on."""
    for test in conditions:
        if isinstance(test, cst.Attribute):
            return test
    return conditions[0]


# -- one item ----------------------------------------------------------------------------------

class _ItemHints:
    """Where the plan says an item's code lives."""

    def __init__(self, blocks: list[Block], names: Names) -> None:
        self.names = names
        self.files: list[str] = []
        self.functions: list[str] = []          # qualified where the plan qualifies them
        self.mentions: list[str] = []           # names in code-shaped location hints (`if args.sft_ckpt: ...`)
        self.cls: str | None = None
        self.fence_scope: dict[int, str] = {}   # fence line -> function named in its first comment
        located: list[str] = []                 # classes named where the plan says where the code lives
        added: list[str] = []                   # classes named in a sentence that asks for a change
        classes: list[str] = []
        location = False
        for block in blocks:
            if block.kind == "fence":
                location = False
                for comment in _comment_lines(block.text)[:2]:
                    for path in _FILE.findall(comment):
                        self._file(path)
                    rest = _FILE.sub(" ", comment)
                    for word in re.findall(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)+|[A-Z]\w+", rest):
                        head, _, tail = word.partition(".")
                        if _is_class(head):
                            located.append(head)
                            if tail:
                                self.fence_scope[block.line] = word
                continue
            if block.depth == 0:
                location = bool(_LOCATION.match(block.text.replace("*", "")))
            is_location = location or bool(_LOCATION.match(block.text.replace("*", "")))
            asks = bool(_REQUIREMENT_WORDS.search(block.text))
            for span in block.spans:
                for path in _FILE.findall(span):
                    self._file(path)
                for cls in _symbols(Block("text", "", 0, spans=(span,))):
                    (located if is_location else added if asks else classes).append(cls)
                    if cls in names.symbol_file:
                        self._file(names.symbol_file[cls])
                if not is_location:
                    continue
                rest = _FILE.sub(" ", span).replace("→", " ").replace("->", " ").strip(" :")
                if rest.startswith(("if ", "for ", "with ")):
                    self.mentions += [a for a in re.findall(r"\b(?:args|self|config|cfg)\.(\w+)", rest)
                                      if a not in self.mentions]
                    continue
                for word in rest.split():
                    word = word.rstrip("()").strip("`,;")
                    qualified = _QUALIFIED.match(word)
                    if qualified and qualified.group(1) in names.stems:
                        self._file(names.resolve(qualified.group(1) + ".py"))
                        self._function(qualified.group(2))
                    elif (qualified or _IDENT.match(word)) and not _is_class(word) and word != "argparse":
                        self._function(word)
        self.cls = next(iter(located + added + classes), None)

    def _file(self, path: str) -> None:
        if path.startswith("/") or ".." in path.split("/"):
            return          # a program entry is a glob inside the audited tree, never a way out of it
        path = self.names.resolve(path)
        if path not in self.files:
            self.files.append(path)

    def _function(self, name: str) -> None:
        if name not in self.functions:
            self.functions.append(name)

    def function_of_block(self, block: ParsedBlock) -> str | None:
        qualified = self.fence_scope.get(block.first_line)
        return qualified.split(".")[-1] if qualified else None

    def scopes(self) -> list[str]:
        found = list(self.functions)
        found += [q for q in self.fence_scope.values() if q not in found]
        return found

    def load_scopes(self) -> tuple[list[str], list[str]]:
        return self.scopes(), list(self.mentions)


def _intro(blocks: list[Block], index: int) -> str:
    for back in range(index - 1, -1, -1):
        if blocks[back].kind == "fence":
            return ""
        return blocks[back].text
    return ""


def _prose_checks(blocks: list[Block], hints: _ItemHints, names: Names) -> list[DraftCheck]:
    checks: list[DraftCheck] = []
    for index, block in enumerate(blocks):
        if block.kind == "fence":
            continue
        text = block.text
        # `--a 5 --b 0` stated as the recommended defaults
        for span in block.spans:
            pairs = re.findall(rf"--([A-Za-z][\w-]*)\s+({_NUMBER}|true|false|True|False)(?=\s|$)", span)
            if pairs and re.search(r"默认|default|推荐|recommend", text, re.I):
                for flag, value in pairs:
                    checks.append(DraftCheck({"kind": "cli_option", "dest": _dest(flag), "default": {"equals": _literal(value)}},
                                             block.line, span))
        # a flag the plan asks to add
        if re.search(r"增加|添加|加一个|加入|暴露|新增|\b(add|expose|introduce|new)\b", text, re.I):
            alternative = re.search(r"[（(]\s*或|\bor\b", text)
            for span in block.spans:
                flag = re.fullmatch(r"--([A-Za-z][\w-]*)", span.strip())
                if flag:
                    checks.append(DraftCheck({"kind": "cli_option", "dest": _dest(flag.group(1))}, block.line, span,
                                             "the plan offers this option as an alternative; keep it if both are meant"
                                             if alternative else ""))
                attr = _SELF_ATTR.match(span.strip())
                owner = next(iter(_symbols(block)), hints.cls)
                if attr and owner:
                    checks.append(DraftCheck({"kind": "attribute", "class": owner, "name": attr.group(1)},
                                             block.line, span))
            # "a `timeout` parameter to `load_data`" / "给 `f` 增加参数 `p`"
            param = re.search(r"`(\w+)`\s*(?:parameter|argument|参数)|(?:parameter|argument|参数)\s*`(\w+)`", text)
            target = [s for s in block.spans if s.rstrip("()") != (param and (param.group(1) or param.group(2)))
                      and re.fullmatch(r"[A-Za-z_][\w.]*(?:\(\))?", s) and not s.startswith("--")]
            if param and target:
                name = param.group(1) or param.group(2)
                function = target[-1].rstrip("()")
                if "." not in function and hints.cls and function != hints.cls:
                    function = f"{hints.cls}.{function}"
                checks.append(DraftCheck({"kind": "param", "function": function, "name": name}, block.line, text[:120]))
        # "`--flag` defaults to `v`" / "`flag` 默认值为 `v`"
        for match in _DEFAULTS_TO.finditer(text):
            dest = _dest(match.group(2))
            if match.group(1) or dest in names.flags:
                checks.append(DraftCheck({"kind": "cli_option", "dest": dest,
                                          "default": {"equals": _literal(match.group(3))}}, block.line, match.group(0)))
        # "`x`：先从 **1~3**" / "`x`: at most 3" in a list of defaults
        lead = re.match(r"^`([a-z_][a-z0-9_]*)`\s*[:：]\s*(.*)$", text, re.S)
        if block.bullet and lead and _default_context(blocks, index):
            dest, rest = lead.group(1), lead.group(2)
            rest = re.split(r"而不是|instead of|rather than|不要|not\b", rest)[0]
            constraint = _range(rest)
            children = _children(blocks, index)
            prefix = dest.split("_")[0]
            for child in children:
                label = re.match(r"^\W*([A-Za-z]+)\s*[:：]", child.text)
                if label and label.group(1).lower() == prefix and not constraint:
                    constraint = _range(child.text.split(":", 1)[-1].split("：", 1)[-1])
            compare = _BELOW.search(rest)
            if compare and "_" in dest:
                other = (compare.group(1) or compare.group(2)).lower() + dest[len(prefix):]
                if other != dest:
                    constraint = dict(constraint or {}, lt_option=other)
            if constraint:
                known = dest in names.flags
                checks.append(DraftCheck({"kind": "cli_option", "dest": dest, "default": constraint}, block.line, text[:120],
                                         "" if known else f"the plan names `{dest}` without its flag; "
                                                          "check it is a CLI option, not a constructor default"))
        # "a query left with no candidate is skipped" (a prose-only requirement)
        if _LEFT_EMPTY.search(text) \
                and re.search(r"continue|跳过|skip|drop", text, re.I) and (hints.cls or hints.functions):
            fields = {"kind": "pattern", "pattern": ["if not $L:\n    ...\n    continue", "if len($L) == 0:\n    ...\n    continue"],
                      "scope": [f"{hints.cls}.*"] if hints.cls else list(hints.functions)}
            checks.append(DraftCheck(fields, block.line, text[:120],
                                     "stated only in prose; `$L` is any list, so name the one the loop fills",
                                     name="empty-skipped"))
    return checks


def _default_context(blocks: list[Block], index: int) -> bool:
    for back in range(index, -1, -1):
        block = blocks[back]
        if re.search(r"默认|default|超参|hyper-?param", block.text, re.I):
            return True
        if block.depth == 0 and back != index:
            return False
    return False


def _children(blocks: list[Block], index: int) -> list[Block]:
    depth = blocks[index].depth
    found = []
    for block in blocks[index + 1:]:
        if block.kind == "fence" or block.depth <= depth:
            break
        found.append(block)
    return found


def _range(text: str) -> dict | None:
    text = text.replace("*", "")
    span = re.search(rf"({_NUMBER})\s*(?:~|～|-|–|到|至|to)\s*({_NUMBER})", text)
    if span:
        low, high = sorted((_literal(span.group(1)), _literal(span.group(2))))
        return {"ge": low, "le": high}
    most = re.search(rf"(?:不超过|至多|最多|at most|no more than|<=)\s*`?({_NUMBER})", text, re.I)
    if most:
        return {"le": _literal(most.group(1))}
    values = [_literal(v) for v in re.findall(rf"`({_NUMBER})`", text)]
    values = [v for v in values if isinstance(v, (int, float))]
    if len(values) >= 1 and re.search(r"或|or|例如|e\.g\.", text) or len(values) == 1:
        return {"le": max(values)} if values else None
    return None


# -- the whole plan ----------------------------------------------------------------------------

def _is_requirement_chapter(section: Section) -> tuple[bool, str]:
    if _NOT_A_REQUIREMENT.search(section.title):
        return False, "a status, background or roadmap section"
    intro = " ".join(b.text for b in section.blocks[:3])
    if _NO_CODE_NOW.search(intro):
        return False, "the plan says it needs no code change now"
    return True, ""


def _leaves(section: Section) -> list[Section]:
    numbered = [c for c in section.children if c.number]
    if not numbered:
        return [section]
    return [leaf for child in numbered for leaf in _leaves(child)]


def _split(section: Section) -> list[tuple[str, str, int, list[Block]]]:
    """A section whose ordered list states separate requirements (bold entries) becomes N.1, N.2 ..."""
    blocks = list(section.all_blocks())
    marks = [i for i, b in enumerate(blocks) if b.kind == "pseudo_heading"]
    if len(marks) < 2:
        return [(section.number, section.title, section.line, blocks)]
    from leveraudit.plan.outline import pseudo_heading

    parts = []
    for n, start in enumerate(marks):
        end = marks[n + 1] if n + 1 < len(marks) else len(blocks)
        parts.append((f"{section.number}.{n + 1}", pseudo_heading(blocks[start].text) or "", blocks[start].line,
                      blocks[start + 1:end]))
    return parts


def _requirement(blocks: list[Block]) -> str:
    lines = []
    for block in blocks:
        if block.kind == "text" and block.bullet:
            lines.append("  " * max(0, block.depth - 1) + "- " + " ".join(block.text.split()))
    if not lines:
        lines = [" ".join(b.text.split()) for b in blocks if b.kind == "text"][:3]
    return "\n".join(lines)


def draft_from_plan(text: str, plan_path: str = "PLAN.md", lang: str | None = None) -> Draft:
    if len(text.encode("utf-8", "surrogatepass")) > MAX_PLAN_BYTES:
        raise PlanError(f"{plan_path}: larger than the {MAX_PLAN_BYTES // (1024 * 1024)} MB a plan may be")
    if "\x00" in text:
        raise PlanError(f"{plan_path}: not a text file (it holds NUL bytes)")
    try:
        outline = read_outline(text)
    except (RecursionError, MemoryError, ValueError) as exc:
        raise PlanError(f"{plan_path}: the Markdown could not be read ({type(exc).__name__})") from None
    names = Names(outline)
    plan_lang = detect_lang(text)
    lang = lang or plan_lang
    headings = [s for s in outline.walk() if s.level >= 1]
    title = next((s.title for s in headings if s.level == 1), "") or plan_path
    date = _DATE.search(title) or _DATE.search(plan_path)
    summary: list[str] = []
    items: list[DraftItem] = []
    programs: dict[str, list[str]] = {}
    document_title = next((s for s in headings if s.level == 1), None)
    budget = ParseBudget()
    seen: set[str] = set()
    checks = left_out = 0
    for chapter in _chapters(outline):
        chapter_ok, why = _is_requirement_chapter(chapter)
        ancestors = _ancestors(chapter, document_title)
        if chapter_ok and any(_NOT_A_REQUIREMENT.search(a.title) for a in ancestors):
            chapter_ok, why = False, "under a status, background or roadmap heading"
        if not chapter_ok:
            label = f"{chapter.number} {chapter.title}".strip()
            fences = sum(1 for b in chapter.all_blocks() if b.kind == "fence")
            summary.append(f"section {label} (line {chapter.line}): not drafted, {why}"
                           + (f"; its {fences} code block(s) produced no check" if fences else ""))
            continue
        for leaf in _leaves(chapter):
            for number, heading, line, blocks in _split(leaf):
                if len(items) >= MAX_ITEMS or checks >= MAX_CHECKS:
                    left_out += 1
                    continue
                item = _draft_item(number, heading, line, blocks, names, summary, budget)
                if item is None:
                    continue
                item.checks = item.checks[:MAX_CHECKS - checks]
                checks += len(item.checks)
                if item.id in seen:   # a number the plan uses twice: both are kept, the second renamed
                    renamed = next(f"{item.id}-{n}" for n in range(2, 10**6) if f"{item.id}-{n}" not in seen)
                    summary.append(f"{item.id} (line {item.line}): the plan numbers two sections {item.id}; "
                                   f"this one is drafted as {renamed}")
                    item.id = renamed
                seen.add(item.id)
                items.append(item)
    chapters = {id(c) for c in _chapters(outline)}
    for section in outline.walk():   # code outside every numbered section is context, and said to be
        if any(id(s) in chapters for s in (section, *_ancestors(section, None))):
            continue
        for block in section.blocks:
            if block.kind == "fence":
                where = f"under \"{section.title}\"" if section.title else "before the first heading"
                summary.append(f"code block at line {block.opened} ({block.info or 'no language'}) {where}: "
                               "outside every numbered section, read as context only")
    if left_out:
        summary.append(f"{left_out} more section(s) not drafted: a draft holds at most {MAX_ITEMS} items "
                       f"and {MAX_CHECKS} checks")
    if not items:
        raise PlanError(f"{plan_path}: found no numbered section that states a requirement "
                        "(headings like `## 3.1 Title` become items)")
    _resolve_conflicts(items, summary)
    stated = _table_priorities(outline)
    for item in items:
        item.titles = bilingual(item.title) or {plan_lang: item.title}
        if not item.priority_stated and item.id in stated:
            item.priority, item.priority_stated = stated[item.id], True
    for item in items:
        for path in item.programs:
            programs.setdefault(_program_name(path), [f"**/{path}"])
        item.programs = sorted({_program_name(p) for p in item.programs})
        _number_checks(item)
    return Draft(title=title, lang=lang, plan_lang=plan_lang, plan_path=plan_path.rsplit("/", 1)[-1], date=
                 "-".join(date.groups()) if date else None, programs=dict(sorted(programs.items())),
                 items=items, summary=summary)


def _table_priorities(outline: Section) -> dict[str, str]:
    """Priorities a table states: a row whose first cell is an item number and another cell a priority."""
    found: dict[str, str] = {}
    for section in outline.walk():
        for _, cells in section.tables:
            number = re.fullmatch(r"\W*(\d{1,3}(?:\.\d{1,3}){0,4})\W*", cells[0]) if cells else None
            words = [_PRIORITY_WORDS.get(cell.strip("* ").lower()) for cell in cells[1:]]
            priority = next((w for w in words if w), None)
            if number and priority:
                found.setdefault(number.group(1), priority)
    return found


def _chapters(outline: Section) -> list[Section]:
    """The top-most numbered sections (a plan's chapters), wherever the heading levels start."""
    found = []

    def visit(section: Section) -> None:
        for child in section.children:
            if child.number:
                found.append(child)
            else:
                visit(child)

    visit(outline)
    return found


def _ancestors(section: Section, document_title: Section | None) -> list[Section]:
    found = []
    parent = section.parent
    while parent is not None and parent.level > 0:
        if parent is not document_title:
            found.append(parent)
        parent = parent.parent
    return found


def _program_name(path: str) -> str:
    return re.sub(r"\W+", "_", path.rsplit("/", 1)[-1][:-3]).strip("_") or "program"


def _draft_item(number: str, heading: str, line: int, blocks: list[Block], names: Names, summary: list[str],
                budget: ParseBudget):
    hints = _ItemHints(blocks, names)
    checks: list[DraftCheck] = []
    fences = [(i, b) for i, b in enumerate(blocks) if b.kind == "fence"]
    pending_before: ParsedBlock | None = None
    for index, block in fences:
        intro = _intro(blocks, index)
        label = f"{number}: code block at line {block.opened}"
        if block.info not in PYTHON:
            summary.append(f"{label} ({block.info or 'no language'}): not Python, read as an example only")
            continue
        pair = split_before_after(block.text)
        parsed_after = None
        if pair is not None:
            before_code, after_code = pair
            parsed_before = parse_block(before_code, block.line, budget)
            parsed_after = parse_block(after_code, block.line, budget)
            drafted = _diff_checks(parsed_before, parsed_after, hints, intro)
        elif BEFORE_MARK.search(intro.replace("*", "")) and not AFTER_MARK.search(intro.replace("*", "")):
            pending_before = parse_block(block.text, block.line, budget)
            continue
        elif pending_before is not None and AFTER_MARK.search(intro.replace("*", "")):
            parsed_after = parse_block(block.text, block.line, budget)
            drafted = _diff_checks(pending_before, parsed_after, hints, intro)
            pending_before = None
        else:
            parsed_after = parse_block(block.text, block.line, budget)
            drafted = _block_checks(parsed_after, hints, intro) if parsed_after.module is not None else []
        for plan_line, skipped in (parsed_after.skipped if parsed_after else []):
            summary.append(f"{number}: line {plan_line} of a code block is not Python and was skipped: {skipped[:60]}")
        if parsed_after is not None and parsed_after.module is None:
            summary.append(f"{label}: {parsed_after.error}")
        elif not drafted:
            summary.append(f"{label}: no shape the drafter maps to a check (it may only illustrate)")
        checks += drafted
    checks += _prose_checks(blocks, hints, names)
    checks = _dedupe(checks)
    options = {c.fields["dest"] for c in checks if c.kind == "cli_option" and c.required}
    for check in list(checks):
        if check.kind == "attribute" and check.required and check.fields["name"] in options:
            name = check.fields["name"]
            checks.append(DraftCheck({"kind": "flows", "option": name, "to": name}, check.line, check.source,
                                     "the option and the attribute share a name, so the option is taken to set it"))
    if not any(c.required for c in checks):
        if checks:
            summary.append(f"{number} {heading}: only advisory checks; not drafted as an item")
        else:
            summary.append(f"{number} {heading} (line {line}): no check could be drafted; write them by hand")
        return None
    priority_match = next((m for b in blocks for m in [_PRIORITY.search(b.text)] if m), None)
    item = DraftItem(id=number, title=heading.replace("**", ""),
                     line=line, requirement=_requirement(blocks), checks=checks)
    if priority_match:
        item.priority = _PRIORITY_WORDS[priority_match.group(1).lower()]
        item.priority_stated = True
    item.programs = list(hints.files)
    return item


def _block_checks(parsed: ParsedBlock, hints: _ItemHints, intro: str) -> list[DraftCheck]:
    shapes = Shapes(parsed, hints, intro)
    checks = shapes.run()
    return checks + _print_checks(shapes)


def _print_checks(shapes: Shapes) -> list[DraftCheck]:
    printed = shapes.printed_names
    if not printed:
        return []
    names = sorted({n for _, found in printed for n in found if n.endswith(("count", "total", "num", "ratio"))}
                   or {n for _, found in printed for n in found})
    counts = [n for n in names if n.endswith("count")] or names
    fields = {"kind": "pattern", "title": _title("the statistics are printed", "打印统计信息"), "pattern": list(_PRINTS),
              "mentions": r"\{[^}\n]*\b(" + "|".join(re.escape(n) for n in counts) + r")\b"}
    if len(printed) > 1:
        fields["min_count"] = len(printed)
    node = printed[0][0]
    return [DraftCheck(fields, shapes.line(node), _code(node)[:120], name="stats-printed")]


def _diff_checks(before: ParsedBlock, after: ParsedBlock, hints: _ItemHints, intro: str) -> list[DraftCheck]:
    if after.module is None:
        return []
    old = {_code(s) for s in (before.module.body if before.module is not None else [])}
    changed = [s for s in after.module.body if _code(s) not in old]
    shapes = Shapes(after, hints, intro)
    return shapes.run(changed) + _print_checks(shapes)


def _dedupe(checks: list[DraftCheck]) -> list[DraftCheck]:
    kept: list[DraftCheck] = []
    for check in checks:
        same = next((k for k in kept if k.kind == check.kind and k.required == check.required
                     and _subject_of(k) == _subject_of(check)), None)
        if same is None:
            kept.append(check)
            continue
        if same.kind == "call_kwarg":     # two calls in the plan: both must pass it
            same.fields["min_count"] = same.fields.get("min_count", 1) + 1
            continue
        for name, value in check.fields.items():   # a later statement adds what an earlier one left out
            if name == "default" and isinstance(value, dict) and isinstance(same.fields.get("default"), dict):
                same.fields["default"] = {**value, **same.fields["default"]}
            else:
                same.fields.setdefault(name, value)
        if check.review and not same.review:
            same.review = check.review
    return kept


def _subject_of(check: DraftCheck) -> tuple:
    f = check.fields
    return {
        "cli_option": lambda: (f["dest"],),
        "param": lambda: (f["function"], f["name"]),
        "attribute": lambda: (str(f["class"]), f["name"]),
        "assigns_key": lambda: (f["key"],),
        "call_kwarg": lambda: (f["callee"], f["keyword"]),
        "flows": lambda: (f["option"], f["to"]),
    }.get(check.kind, lambda: check.key())()


def _resolve_conflicts(items: list[DraftItem], summary: list[str]) -> None:
    """Two items pinning one option to values no default can meet: the exact pin of the earlier item
    stands; the later item keeps the bounds the pin meets as required and its literal range as advisory."""
    pins: dict[str, tuple[str, object]] = {}
    for item in items:
        for check in item.checks:
            default = check.fields.get("default") if check.kind == "cli_option" and check.required else None
            if isinstance(default, dict) and "equals" in default and check.fields["dest"] not in pins:
                pins[check.fields["dest"]] = (item.id, default["equals"])
    for item in items:
        for check in list(item.checks):
            default = check.fields.get("default") if check.kind == "cli_option" and check.required else None
            if not isinstance(default, dict) or "equals" in default:
                continue
            pin = pins.get(check.fields["dest"])
            if pin is None or pin[0] == item.id or not isinstance(pin[1], (int, float)):
                continue
            kept = {k: v for k, v in default.items() if _meets(pin[1], k, v)}
            if kept == default:
                continue
            check.fields["default"] = kept or None
            if not kept:
                del check.fields["default"]
            reason = (f"conflicts with {pin[0]}, which makes `{check.fields['dest']}` default to {pin[1]!r}; "
                      f"the literal range is kept as an advisory check")
            check.review = reason
            item.checks.append(DraftCheck({"kind": "cli_option", "level": "advisory",
                                           "title": _title("the plan's literal range", "文档写法：取值范围"),
                                           "dest": check.fields["dest"], "default": default}, check.line, check.source))
            summary.append(f"{item.id}: `{check.fields['dest']}` {reason}")


def _meets(value, bound: str, limit) -> bool:
    if not isinstance(limit, (int, float)) or isinstance(limit, bool):
        return True
    return {"ge": value >= limit, "le": value <= limit, "gt": value > limit, "lt": value < limit}.get(bound, True)


def _number_checks(item: DraftItem) -> None:
    used: set[str] = set()
    for check in item.checks:
        f = check.fields
        subject = check.name or {
            "cli_option": f.get("dest"), "param": f"param-{f.get('name')}", "attribute": f"attr-{f.get('name')}",
            "assigns_key": f"key-{f.get('key')}", "call_kwarg": f"passes-{f.get('keyword')}",
            "flows": f"flows-{f.get('option')}", "guard": "guard", "loop_filter": "filter",
            "branch": "choice", "checked_load": "loads", "pattern": "pattern"}.get(check.kind, check.kind)
        base = f"{item.id}/{re.sub(r'[^a-z0-9]+', '-', str(subject).lower()).strip('-')}"
        if not check.required:
            base += "-literal"
        name, n = base, 2
        while name in used:
            name, n = f"{base}-{n}", n + 1
        used.add(name)
        check.fields = {"kind": f["kind"], "id": name, **{k: v for k, v in f.items() if k not in ("kind", "id")}}
