"""CLI surfaces: argparse, typer and click options with their effective defaults.

Static only: defaults are literals (or module constants bound to literals); anything else is
reported as not statically known rather than guessed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from leveraudit.lazy import cst

from leveraudit.extract.module import ParsedModule, dotted_name

_UNKNOWN = object()


@dataclass
class CliOption:
    dest: str
    flags: list[str]
    framework: str  # argparse | typer | click
    program: str  # which parser / command it belongs to
    path: str
    line: int
    action: str | None = None
    type: str | None = None
    default_known: bool = True
    default: Any = None
    default_code: str = "None"
    default_line: int | None = None  # where the effective default is set (set_defaults)
    help: str | None = None
    required: bool = False
    command: str | None = None  # typer/click sub-command name of the function that defines it

    def to_json(self) -> dict:
        return {k: v for k, v in self.__dict__.items()}

    @classmethod
    def from_json(cls, data: dict) -> "CliOption":
        return cls(**data)


@dataclass
class _Parser:
    key: str
    options: list[CliOption] = field(default_factory=list)


def normalize_flag(flag: str) -> str:
    return flag.lstrip("-").replace("-", "_")


def _string_args(call: cst.Call, module: ParsedModule) -> list[str]:
    values = []
    for arg in call.args:
        if arg.keyword is not None or arg.star:
            continue
        known, value = module.literal(arg.value)
        if known and isinstance(value, str):
            values.append(value)
    return values


def _kwarg(call: cst.Call, name: str) -> cst.Arg | None:
    for arg in call.args:
        if arg.keyword is not None and arg.keyword.value == name:
            return arg
    return None


def _receiver(call: cst.Call) -> str:
    return dotted_name(call.func.value) if isinstance(call.func, cst.Attribute) else ""


def _argparse_dest(flags: list[str]) -> str:
    longs = [f for f in flags if f.startswith("--")]
    chosen = longs[0] if longs else flags[0]
    return chosen.lstrip("-").replace("-", "_")


def _help_text(arg: cst.Arg | None, module: ParsedModule) -> str | None:
    if arg is None:
        return None
    known, value = module.literal(arg.value)
    return value if known and isinstance(value, str) else module.snippet(arg.value, 200)


def _scope_key(module: ParsedModule, node: cst.CSTNode) -> str:
    function = module.enclosing_function(node)
    return module.qualname(function) if function is not None else "<module>"


# A definition the extraction can take an option from says one of these: every option comes from a
# call or decorator inside one function (`add_argument`, `set_defaults`, typer's `Option` / `Argument`,
# click's `option`), tied to its parser by names in that same function (groups, sub-parsers,
# `parse_args` and the reassignments after it); defaults follow module-level constants only, and
# module-level code is never left out. So sparse parsing (extract/sparse.py) may leave out every other
# definition; an aliased import counts as what it stands for there.
_HOLDS_OPTIONS = re.compile(r"add_argument|set_defaults|Option|Argument|option")


def may_hold_options(text: str) -> bool:
    """Whether a definition's text may hold a CLI option (a necessary test, for sparse parsing)."""
    return _HOLDS_OPTIONS.search(text) is not None


def extract_cli(module: ParsedModule) -> list[CliOption]:
    options = _argparse(module)
    options += _typer(module)
    options += _click(module)
    return options


# -- argparse -------------------------------------------------------------------------------
def _argparse(module: ParsedModule) -> list[CliOption]:
    # group/subparser variables map to the parser that owns them: g = parser.add_argument_group(...)
    owner: dict[tuple[str, str], str] = {}
    for call in module.calls:
        if not isinstance(call.func, cst.Attribute):
            continue
        method = call.func.attr.value
        if method in ("add_argument_group", "add_mutually_exclusive_group", "add_parser"):
            parent = module.parent(call)
            if isinstance(parent, cst.Assign) and len(parent.targets) == 1:
                target = dotted_name(parent.targets[0].target)
                scope = _scope_key(module, call)
                receiver = _receiver(call)
                base = owner.get((scope, receiver), receiver)
                if method == "add_parser":
                    names = _string_args(call, module)
                    owner[(scope, target)] = f"{base}:{names[0] if names else target}"
                else:
                    owner[(scope, target)] = base

    parsers: dict[str, _Parser] = {}
    set_defaults: list[tuple[str, cst.Call]] = []
    for call in module.calls:
        if not isinstance(call.func, cst.Attribute):
            continue
        method = call.func.attr.value
        if method not in ("add_argument", "set_defaults"):
            continue
        scope = _scope_key(module, call)
        receiver = _receiver(call)
        program = f"{module.rel}::{scope}::{owner.get((scope, receiver), receiver)}"
        if method == "set_defaults":
            set_defaults.append((program, call))
            continue
        flags = _string_args(call, module)
        if not flags:
            continue
        option = _argparse_option(call, flags, module, program)
        parsers.setdefault(program, _Parser(program)).options.append(option)

    for program, call in set_defaults:
        parser = parsers.setdefault(program, _Parser(program))
        line = module.lines(call)[0]
        for arg in call.args:
            if arg.keyword is None:
                continue
            dest = arg.keyword.value
            known, value = module.literal(arg.value)
            targets = [o for o in parser.options if o.dest == dest]
            if not targets:
                targets = [CliOption(dest=dest, flags=[], framework="argparse", program=program, path=module.rel,
                                     line=line, action="set_defaults")]
                parser.options.append(targets[0])
            for option in targets:
                option.default_known, option.default = known, value if known else None
                option.default_code = module.snippet(arg.value, 80)
                option.default_line = line
    _post_parse_defaults(module, parsers)
    return [option for parser in parsers.values() for option in parser.options]


def _convert_string_default(type_name: str, value: str) -> tuple[bool, Any]:
    """argparse applies `type` to a string default: `type=int, default="5"` is 5. Only the builtin
    conversions are replayed (never the audited code's own callables)."""
    try:
        if type_name == "int":
            return True, int(value.strip(), 10)
        if type_name == "float":
            return True, float(value)
        if type_name == "bool":
            return True, bool(value)
        if type_name == "str":
            return True, value
    except ValueError:
        return False, None
    return False, None


def _post_parse_defaults(module: ParsedModule, parsers: dict[str, "_Parser"]) -> None:
    """`args = parser.parse_args()` followed, in the same function, by an unconditional
    `args.x = <literal>`, `args.x = args.x or <literal>`, or `if args.x is None: args.x = <literal>`
    changes x's effective default; the change is recorded where it happens."""
    for call in module.calls:
        if not (isinstance(call.func, cst.Attribute) and call.func.attr.value in ("parse_args", "parse_known_args")):
            continue
        line = module.parent(call)
        assign = line if isinstance(line, cst.Assign) else None
        statement = module.parent(assign) if assign is not None else None
        if assign is None or not isinstance(statement, cst.SimpleStatementLine) or len(assign.targets) != 1:
            continue
        target = assign.targets[0].target
        namespace = dotted_name(target) if isinstance(target, cst.Name) else (
            dotted_name(target.elements[0].value) if isinstance(target, cst.Tuple) and target.elements else "")
        block = module.parent(statement)
        if not namespace or not isinstance(block, cst.IndentedBlock | cst.Module):
            continue
        program = f"{module.rel}::{_scope_key(module, call)}::{_receiver(call)}"
        parser = parsers.get(program)
        if parser is None:
            continue
        body = list(block.body)
        for later in body[body.index(statement) + 1:]:
            _apply_post_parse(module, parser, namespace, later)


def _apply_post_parse(module: ParsedModule, parser: "_Parser", namespace: str, statement: cst.CSTNode) -> None:
    guard = None
    if isinstance(statement, cst.If) and statement.orelse is None and isinstance(statement.body, cst.IndentedBlock) \
            and len(statement.body.body) == 1:
        guard, statement = statement.test, statement.body.body[0]
    if not isinstance(statement, cst.SimpleStatementLine):
        return
    for small in statement.body:
        if not isinstance(small, cst.Assign) or len(small.targets) != 1:
            continue
        target = small.targets[0].target
        if not (isinstance(target, cst.Attribute) and dotted_name(target.value) == namespace):
            continue
        for option in (o for o in parser.options if o.dest == target.attr.value):
            new = _reassigned(module, namespace, option, small.value, guard)
            if new is None:
                continue
            option.default_known, option.default = new
            option.default_code = module.snippet(small.value, 80)
            option.default_line = module.lines(small)[0]


def _reassigned(module, namespace: str, option: CliOption, value: cst.BaseExpression, guard) -> tuple[bool, Any] | None:
    read = f"{namespace}.{option.dest}"
    if guard is not None:  # if args.x is None: args.x = v
        is_none_test = (isinstance(guard, cst.Comparison) and len(guard.comparisons) == 1
                        and isinstance(guard.comparisons[0].operator, cst.Is) and dotted_name(guard.left) == read
                        and module.literal(guard.comparisons[0].comparator) == (True, None))
        if not is_none_test:
            return (False, None)  # some other condition: the default is no longer one known value
        if not option.default_known or option.default is not None:
            return None
        return module.literal(value)
    if isinstance(value, cst.BooleanOperation) and isinstance(value.operator, cst.Or) and dotted_name(value.left) == read:
        if not option.default_known:
            return None
        return (True, option.default) if option.default else module.literal(value.right)
    known, literal = module.literal(value)
    return (known, literal) if known else (False, None)


def _argparse_option(call: cst.Call, flags: list[str], module: ParsedModule, program: str) -> CliOption:
    dest_arg = _kwarg(call, "dest")
    known_dest, dest_value = module.literal(dest_arg.value) if dest_arg else (False, None)
    dest = dest_value if known_dest and isinstance(dest_value, str) else _argparse_dest(flags)
    action_arg = _kwarg(call, "action")
    action = None
    if action_arg is not None:
        known, value = module.literal(action_arg.value)
        action = value if known else module.snippet(action_arg.value, 60)
    type_arg = _kwarg(call, "type")
    default_arg = _kwarg(call, "default")
    required_arg = _kwarg(call, "required")
    option = CliOption(dest=dest, flags=flags, framework="argparse", program=program, path=module.rel,
                       line=module.lines(call)[0], action=action,
                       type=module.snippet(type_arg.value, 60) if type_arg else None,
                       help=_help_text(_kwarg(call, "help"), module))
    if required_arg is not None:
        option.required = module.literal(required_arg.value) == (True, True)
    if default_arg is not None:
        known, value = module.literal(default_arg.value)
        if known and isinstance(value, str) and type_arg is not None:
            known, value = _convert_string_default(module.snippet(type_arg.value, 60), value)
        option.default_known, option.default = known, value if known else None
        option.default_code = module.snippet(default_arg.value, 80)
    elif action == "store_true":
        option.default, option.default_code = False, "False"
    elif action == "store_false":
        option.default, option.default_code = True, "True"
    elif action in ("store_const", "append_const", "count", "append", None, "store"):
        option.default, option.default_code = None, "None"
    elif action == "argparse.BooleanOptionalAction" or (isinstance(action, str) and "BooleanOptionalAction" in action):
        option.default, option.default_code = None, "None"
    if option.type is None and action in ("store_true", "store_false"):
        option.type = "bool"
    return option


# -- typer ----------------------------------------------------------------------------------
def _typer_call(node: cst.CSTNode | None, module: ParsedModule) -> tuple[str, cst.Call] | None:
    if isinstance(node, cst.Call):
        resolved = module.resolve(node.func)
        last = resolved.rsplit(".", 1)[-1]
        if last in ("Option", "Argument") and ("typer" in resolved or resolved in ("Option", "Argument")):
            return last, node
    return None


def _annotated_parts(annotation: cst.BaseExpression, module: ParsedModule) -> tuple[cst.BaseExpression, list]:
    if isinstance(annotation, cst.Subscript) and module.resolve(annotation.value).rsplit(".", 1)[-1] == "Annotated":
        elements = [e.slice.value for e in annotation.slice if isinstance(e.slice, cst.Index)]
        if elements:
            return elements[0], elements[1:]
    return annotation, []


def _typer(module: ParsedModule) -> list[CliOption]:
    options: list[CliOption] = []
    for definition in module.defs:
        if not isinstance(definition, cst.FunctionDef):
            continue
        params = list(definition.params.params) + list(definition.params.kwonly_params)
        found: list[tuple[cst.Param, str, cst.Call | None, cst.BaseExpression | None, cst.BaseExpression | None]] = []
        for param in params:
            annotation = param.annotation.annotation if param.annotation else None
            base_type, extras = _annotated_parts(annotation, module) if annotation is not None else (None, [])
            marker = next((m for m in (_typer_call(e, module) for e in extras) if m), None)
            default_expr = param.default
            if marker is None:
                marker = _typer_call(param.default, module)
                if marker is not None:
                    kind, call = marker
                    first = next((a for a in call.args if a.keyword is None), None)
                    default_arg = _kwarg(call, "default")
                    default_expr = first.value if first is not None else (default_arg.value if default_arg else None)
                    if first is not None:
                        known, value = module.literal(first.value)
                        if known and isinstance(value, str) and value.startswith("-"):
                            default_expr = default_arg.value if default_arg else None
            if marker is None:
                continue
            found.append((param, marker[0], marker[1], default_expr, base_type))
        if not found:
            continue
        program = f"{module.rel}::{module.qualname(definition)}"
        command = _command_name(definition, module)
        for param, kind, call, default_expr, base_type in found:
            option = _typer_option(module, program, param, kind, call, default_expr, base_type)
            option.command = command
            options.append(option)
    return options


def _command_name(definition: cst.FunctionDef, module: ParsedModule) -> str | None:
    """`@app.command("name")` -> name; `@app.command()` -> the function name with `_` as `-`."""
    for decorator in definition.decorators:
        call = decorator.decorator
        if isinstance(call, cst.Call) and isinstance(call.func, cst.Attribute) and call.func.attr.value == "command":
            names = [a for a in _string_args(call, module)]
            return names[0] if names else definition.name.value.replace("_", "-")
    return None


def _typer_option(module, program, param, kind, call, default_expr, base_type) -> CliOption:
    dest = param.name.value
    type_name = module.snippet(base_type, 60) if base_type is not None else None
    declared = [s for s in _string_args(call, module) if s.startswith("-")]
    flags: list[str] = []
    for declaration in declared:
        flags += [part.strip() for part in declaration.split("/") if part.strip()]
    is_bool = type_name in ("bool", "Optional[bool]", "bool | None")
    if kind == "Option" and not flags:
        flags = ["--" + dest.replace("_", "-")]
        if is_bool:
            flags.append("--no-" + dest.replace("_", "-"))
    option = CliOption(dest=dest, flags=flags, framework="typer", program=program, path=module.rel,
                       line=module.lines(param)[0], type=type_name,
                       action="switch" if is_bool else ("argument" if kind == "Argument" else None),
                       help=_help_text(_kwarg(call, "help"), module))
    if default_expr is None or isinstance(default_expr, cst.Ellipsis):
        option.required = True
        option.default_known, option.default, option.default_code = True, None, "..."
    else:
        known, value = module.literal(default_expr)
        option.default_known, option.default = known, value if known else None
        option.default_code = module.snippet(default_expr, 80)
    return option


# -- click ----------------------------------------------------------------------------------
def _click(module: ParsedModule) -> list[CliOption]:
    options = []
    for definition in module.defs:
        if not isinstance(definition, cst.FunctionDef):
            continue
        for decorator in definition.decorators:
            call = decorator.decorator
            if not isinstance(call, cst.Call):
                continue
            resolved = module.resolve(call.func)
            if not resolved.endswith(".option") or "click" not in resolved:
                continue
            declared = [s for s in _string_args(call, module)]
            flags = [p.strip() for d in declared if d.startswith("-") for p in d.split("/") if p.strip()]
            names = [d for d in declared if not d.startswith("-")]
            if not flags and not names:
                continue
            dest = names[0] if names else _argparse_dest([f for f in flags if not f.startswith("--no-")] or flags)
            default_arg = _kwarg(call, "default")
            is_flag = _kwarg(call, "is_flag")
            option = CliOption(dest=dest, flags=flags, framework="click",
                               program=f"{module.rel}::{module.qualname(definition)}", path=module.rel,
                               line=module.lines(call)[0], help=_help_text(_kwarg(call, "help"), module),
                               action="switch" if (is_flag or any("/" in d for d in declared)) else None)
            if default_arg is not None:
                known, value = module.literal(default_arg.value)
                option.default_known, option.default = known, value if known else None
                option.default_code = module.snippet(default_arg.value, 80)
            elif option.action == "switch":
                option.default, option.default_code = False, "False"
            options.append(option)
    return options
