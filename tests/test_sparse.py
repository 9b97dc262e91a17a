"""Sparse parsing (extract/sparse.py): definitions no check can look at are left out of the parse,
and nothing a report shows changes."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

import leveraudit.scan as scan
from leveraudit.engine import run_audit
from leveraudit.extract.module import ParsedModule, parse_module
import leveraudit.extract.sparse as sparse
from leveraudit.extract.sparse import sparse_source
from leveraudit.report import TEXT_RENDERERS
from leveraudit.ruletest import load_variants, materialize
from leveraudit.spec import load_spec
from tests.conftest import REPO, V3

HEAVY = REPO / "benchmarks" / "heavy" / "heavy.yaml"


@pytest.fixture(autouse=True)
def _always_try(monkeypatch):
    # the estimate that skips files with little to leave out is tested on its own (below); everywhere
    # else every file takes the exact path, so the comparisons cover it as much as they can
    monkeypatch.setattr(sparse, "WORTH_TRYING", 0.0)


def _sparse(source: str, *words: str, split: bool = False):
    return sparse_source(textwrap.dedent(source), lambda text: any(w in text for w in words), split)


def _kept_names(result) -> list[str]:
    names = []
    for statement in result.body:
        if hasattr(statement, "name"):
            names.append(statement.name)
            names += [f"{statement.name}.{s.name}" for s in getattr(statement, "body", []) if hasattr(s, "name")]
    return names


def test_left_out_lines_are_removed_and_each_kept_line_maps_back_untouched():
    source = textwrap.dedent('''\
        import torch

        def unrelated(a):
            return a + 1

        @decorator(
            "multi-line arguments",
        )
        def target(model, path):
            model.load_state_dict(torch.load(path))

        VALUE = 3
        ''')
    result = sparse_source(source, lambda text: "load_state_dict" in text)
    before, after = source.split("\n"), result.text.split("\n")
    assert len(after) == len(result.line_map) == len(before) - 2   # `def unrelated` and its body
    for new, line in zip(after, result.line_map):
        assert new == before[line - 1]
    assert result.line_map == sorted(set(result.line_map))
    assert "def unrelated" not in result.text and "return a + 1" not in result.text
    assert "@decorator(" in result.text and "VALUE = 3" in result.text
    assert _kept_names(result) == ["target"] and result.blanked == 1


def test_definitions_kept_code_names_are_kept_transitively():
    result = _sparse('''\
        def target():
            return helper()

        def helper():
            return inner()

        def inner():
            return 1

        def unused():
            return inner()

        class Base:
            pass

        class Model(Base):
            def forward(self):
                return target()
        ''', "forward")
    assert sorted(_kept_names(result)) == ["Base", "Model", "Model.forward", "helper", "inner", "target"]


def test_an_import_inside_a_left_out_function_binds_a_name_kept_code_uses():
    # libcst's alias table is module-wide: the import in `setup` decides what `L` stands for in `run`
    result = _sparse('''\
        def setup():
            from torch import load as L

        def run(path):
            return L(path)

        def other():
            return 2
        ''', "L(")
    assert _kept_names(result) == ["setup", "run"]


def test_an_aliased_name_counts_as_what_it_stands_for():
    result = _sparse('''\
        from torch import load as restore

        def resume(path):
            return restore(path)

        def other(path):
            return open(path)
        ''', "torch.load")
    assert _kept_names(result) == ["resume"]


def test_a_kept_class_keeps_the_methods_its_kept_methods_use():
    result = _sparse('''\
        class Policy:
            """Docstring."""

            def __init__(self, config):
                self.config = config
                self.head = self.encoder.out

            def build(self):
                self.encoder: Encoder = make()

            def _check(self, x):
                return x

            def forward(self, x):
                return self._check(x)

            def unrelated(self):
                return self.other == 1
        ''', "__init__", "forward", split=True)
    assert _kept_names(result) == ["Policy", "Policy.__init__", "Policy.build", "Policy._check", "Policy.forward"]
    assert "class Policy:" in result.text and '"""Docstring."""' in result.text
    assert "def unrelated" not in result.text
    module = parse_module("m.py", textwrap.dedent('''\
        class Policy:
            def __init__(self):
                pass

            def unrelated(self):
                return 2
        '''), lambda text: "__init__" in text, True)
    assert isinstance(module, ParsedModule) and module.blanked == 1
    assert module.lines(module.tree.body[0].body.body[0]) == (2, 3)


def test_a_method_is_reached_through_self_or_its_class_body_not_by_a_bare_word():
    # the analysis follows `self.name(...)` and `self.name` attributes only: `kwargs.get`, `get(...)` and a
    # word in a string do not need the method `get`; `self . helper (x)` and `run = _impl` do
    result = _sparse('''\
        class Store:
            run = _impl

            def forward(self, kwargs):
                value = kwargs.get("get") + get(1)
                return self . helper (value) + self.cached + self.counter

            def get(self, key):
                return key

            def helper(self, x):
                return x

            def _impl(self):
                return 0

            def fill(self):
                self.cached = 1

            def spaced(self):
                self . counter = 0

            def other(self):
                self.unread = 2
        ''', "forward", split=True)
    assert _kept_names(result) == ["Store", "Store.forward", "Store.helper", "Store._impl", "Store.fill",
                                   "Store.spaced"]


def test_a_class_none_of_whose_methods_is_needed_is_kept_whole():
    # its header matched (`Policy` is in the test); an emptied body would not parse
    result = _sparse('''\
        class Policy:
            def a(self):
                return 1

            def b(self):
                return 2

        def unrelated():
            return 3
        ''', "Policy", split=True)
    assert _kept_names(result) == ["Policy", "Policy.a", "Policy.b"]


def test_methods_are_only_split_when_every_check_allows_it():
    result = _sparse('''\
        class Policy:
            def a(self):
                return 1

            def wanted(self):
                return 2
        ''', "wanted")
    assert result is None   # the class is needed whole and nothing else is left to leave out


@pytest.mark.parametrize("source", [
    "def f():\r\n    return 1\r\n\r\ndef g():\r\n    return 2\r\n",   # \r line ends: lines counted differently
    "def f(:\n    return 1\n\ndef g():\n    return 2\n",             # a syntax error is libcst's to report
])
def test_files_that_are_parsed_whole(source):
    assert sparse_source(source, lambda text: "def g" in text) is None


def test_a_file_with_nothing_to_leave_out_is_parsed_whole_with_its_statements_reused():
    source = "X = 1\n\ndef helper():\n    return X\n\ndef g():\n    return helper()\n"
    result = sparse_source(source, lambda text: "def g" in text)   # the closure keeps `helper`
    assert result.blanked == 0 and [type(s).__name__ for s in result.body] == ["Assign", "FunctionDef", "FunctionDef"]
    module = parse_module("m.py", source, lambda text: "def g" in text)
    assert module.blanked == 0 and module._ast_statements is not None   # no second CPython parse for lines
    assert module.text == source and module.lines(module.tree.body[2]) == (6, 7)


def test_the_estimate_skips_files_with_little_to_leave_out(monkeypatch):
    monkeypatch.setattr(sparse, "WORTH_TRYING", 0.25)
    wanted = lambda text: "forward" in text   # noqa: E731
    mostly_needed = "class A:\n    def forward(self):\n" + "        x = 1\n" * 20 + "\ndef other():\n    pass\n"
    assert sparse_source(mostly_needed, wanted) is None           # 2 of 26 lines: not worth CPython's parse
    assert sparse_source(mostly_needed, wanted, True) is None
    mostly_not = "class A:\n    def forward(self):\n        pass\n\n    def other(self):\n" + "        x = 1\n" * 20
    assert sparse_source(mostly_not, wanted) is None              # the class is needed whole
    result = sparse_source(mostly_not, wanted, True)              # but most of it is a method no check needs
    assert result.blanked == 1 and "x = 1" not in result.text


def test_a_definition_whose_start_is_misjudged_falls_back_to_the_whole_parse():
    # the decorator's expression starts a line below its `@`: what is left does not parse, so the
    # whole file is parsed instead, exactly as without sparse parsing
    source = "@(\n    deco\n)\ndef unrelated():\n    pass\n\ndef wanted():\n    pass\n"
    assert sparse_source(source, lambda text: "wanted" in text) is not None
    module = parse_module("m.py", source, lambda text: "wanted" in text)
    assert isinstance(module, ParsedModule) and module.blanked == 0 and module.text == source


def test_limits_are_decided_on_the_whole_file():
    source = "def wanted():\n    pass\n\ndef deep():\n    return " + "(" * 400 + ")" * 400 + "\n"
    assert parse_module("m.py", source, lambda text: "wanted" in text).message.startswith("too deeply nested")


# a tree of the shapes the closure exists for, audited with the heavy spec
TRICKY = {
    "pkg/aliases.py": '''\
        from torch import load as read_checkpoint
        import torch as T

        def restore(model, path):
            state = read_checkpoint(path)
            missing, unexpected = model.load_state_dict(state, strict=False)
            _report(missing)

        def _report(keys):
            print("missing", keys)

        def restore_plain(path):
            return T.load(path, map_location="cpu")

        def unrelated(x):
            return x * 2
        ''',
    "pkg/models.py": '''\
        import torch

        class Encoder:
            def __init__(self, config):
                self.config = config

        class Model(Encoder):
            def __init__(self, config):
                super().__init__(config)
                self.width = self.config.hidden

            def build(self):
                self.ref = torch.nn.Linear(2, 2)

            def sync(self):
                self.ref.load_state_dict(self.model.state_dict())

            def capture(self):
                self.snapshot = self.model.state_dict()

            def restore(self):
                # a live copy, known only from the method that sets the attribute: not a checkpoint load
                self.ref.load_state_dict(self.snapshot, strict=False)

            def forward(self, x):
                self._validate(x)
                return x

            def _validate(self, x):
                if x is None:
                    raise ValueError("x")

            def summary(self):
                return "model"

        class Plain:
            def forward(self, x):
                return x + 1

            def extra(self):
                return 0

        def unused():
            return 1
        ''',
    "pkg/words.py": '''\
        class Registry(Base):
            def setup(self):
                self.app_config = load_app_config()
                super().setup()

            def forwards(self, apps):
                return apps.forward_map

            def __init__(self, config):
                super().__init__()
                self.config = config

            def reload(self):
                super().__init__(self.config)
        ''',
    "pkg/options.py": '''\
        class Options(Base):
            """Class attributes no check looks at go when no check follows names."""
            kind = "options"; size = self.config.width
            other = 1

            def __init__(self, config):
                super().__init__()
                self.config = config
        ''',
    "pkg/late_import.py": '''\
        def setup():
            from torch import load as L

        def run(path):
            return L(path)

        def other():
            return 2
        ''',
}


def _report(spec, root: Path, sparse: bool, monkeypatch) -> tuple[str, int]:
    monkeypatch.setattr(scan, "SPARSE_PARSE", sparse)
    report, stats = run_audit(spec, root, jobs=1)
    return TEXT_RENDERERS["json"](report, "en"), stats.left_out


def _roots(tmp_path: Path) -> list[Path]:
    roots = [REPO / "tests" / "fixtures" / "research_before", REPO / "tests" / "fixtures" / "research_after",
             REPO / "tests" / "plans" / "hardening" / "gaps"]
    variants = [v for path in sorted((REPO / "tests" / "corpus").glob("*.variants.yaml")) for v in load_variants(path)]
    for index, variant in enumerate(variants[::6]):
        roots.append(materialize(variant, tmp_path / str(index)))
    tricky = tmp_path / "tricky"
    for rel, source in TRICKY.items():
        (tricky / rel).parent.mkdir(parents=True, exist_ok=True)
        (tricky / rel).write_text(textwrap.dedent(source), encoding="utf-8")
    return roots + [tricky]


@pytest.mark.parametrize("spec_path", [V3, HEAVY], ids=["v3", "heavy"])
def test_reports_are_identical_with_sparse_parsing_off(spec_path, monkeypatch, tmp_path):
    spec = load_spec(spec_path)
    left_out = 0
    for root in _roots(tmp_path):
        sparse, blanked = _report(spec, root, True, monkeypatch)
        whole, none = _report(spec, root, False, monkeypatch)
        assert sparse == whole, root
        assert none == 0
        left_out += blanked
    if spec_path == HEAVY:   # not vacuous: definitions were left out (v3's flows and branches need whole files)
        assert left_out > 20


def _one_item_audit(tmp_path: Path, checks: str, rel: str, source: str, monkeypatch):
    """A spec of one item with `checks` (YAML), a tree of one file: its report with sparse parsing on,
    how many definitions that left out, and its report with sparse parsing off."""
    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text("version: 1\ntitle: one item\nlang: en\nitems:\n  - id: I1\n    title: item\n"
                         "    priority: low\n    checks:\n" + textwrap.indent(textwrap.dedent(checks), " " * 6),
                         encoding="utf-8")
    root = tmp_path / "tree"
    root.mkdir()
    (root / rel).write_text(textwrap.dedent(source), encoding="utf-8")
    spec = load_spec(spec_path)
    sparse_report, left_out = _report(spec, root, True, monkeypatch)
    whole, _ = _report(spec, root, False, monkeypatch)
    return spec, sparse_report, left_out, whole


def test_a_pattern_that_matches_a_class_keeps_its_lines(monkeypatch, tmp_path):
    # the match is the whole class: leaving out its methods would move the evidence's end line. Two
    # defences, each enough alone: a class pattern splits no class (PatternKind.splits_classes), and a
    # method is tested with its class's header, which holds the pattern's words
    _, sparse_report, left_out, whole = _one_item_audit(tmp_path, '''\
        - kind: pattern
          id: C1/policy
          pattern: "class $C(Base): ..."
        ''', "policy.py", '''\
        class Policy(Base):
            kind = "policy"

            def forward(self):
                return 1

            def other(self):
                return 2

        def unrelated():
            return 3
        ''', monkeypatch)
    assert sparse_report == whole and left_out == 1   # `unrelated` goes, the class stays whole
    evidence = json.loads(whole)["items"][0]["checks"][0]["evidence"]
    assert [(e["line"], e["end_line"]) for e in evidence] == [(1, 8)] and "def other" in evidence[0]["code"]


def test_checks_local_to_their_definition_leave_out_what_kept_code_only_names(monkeypatch, tmp_path):
    # `pattern` (without `follow`) and `param` read nothing outside the definition holding the match and
    # resolve no name, so what kept code calls is left out too (the closure would keep it)
    spec, sparse_report, left_out, whole = _one_item_audit(tmp_path, '''\
        - kind: pattern
          id: L1/load
          pattern: torch.load($P)
        - kind: param
          id: L1/config
          function: "*.__init__"
          name: config
        ''', "model.py", '''\
        import torch

        def run(path):
            return torch.load(path)

        def helper(x):
            return x * 2

        class Model:
            def __init__(self, config, lr=helper(1)):
                self.config = config
                self._build()

            def _build(self):
                self.layer = helper(2)

            def other(self):
                return 3
        ''', monkeypatch)
    assert sparse_report == whole
    assert left_out == 3   # helper, Model._build, Model.other (the closure would keep the first two)
    evidence = json.loads(whole)["items"][0]["checks"][0]["evidence"]
    assert [e["line"] for e in evidence] == [4]
    assert json.loads(whole)["items"][0]["checks"][1]["status"] == "pass"
    monkeypatch.setattr(scan, "SPARSE_PARSE", True)
    wanted, split, follow, _ = scan.segment_test([(c, ch) for _, c, ch in spec.iter_checks()], cli=False)
    assert split and not follow


def test_an_alias_is_expanded_however_many_there_are():
    # beyond 32 renamed imports the expansion reads the text's words instead of testing each alias
    imports = "".join(f"from pkg import name{i} as alias{i}\n" for i in range(40))
    source = imports + "\ndef uses(p):\n    return alias39(p)\n\ndef other(p):\n    return p\n"
    result = sparse_source(source, lambda text: "pkg.name39" in text)
    assert _kept_names(result) == ["uses"]


def test_a_class_with_a_huge_header_is_kept_whole():
    # the header is repeated into each method's test, so beyond MAX_HEADER the class is not split
    decorator = "@register(" + ", ".join(f"k{i}={i}" for i in range(1000)) + ")\n"
    source = decorator + "class Policy:\n    def forward(self):\n        return 1\n\n    def other(self):\n        return 2\n" \
        "\ndef unrelated():\n    return 3\n"
    result = sparse_source(source, lambda text: "forward" in text, True)
    assert _kept_names(result) == ["Policy", "Policy.forward", "Policy.other"]


# every shape the CLI extraction reads, beside definitions it has nothing to take from
CLI_SHAPES = '''\
    import argparse
    import click
    import typer
    from click import option as opt
    from typer import Option as TyperOption
    from typing import Annotated

    DEFAULT_LR = 3e-4
    app = typer.Typer()

    def add_model_args(parser):
        group = parser.add_argument_group("model")
        group.add_argument("--hidden", type=int, default=DEFAULT_LR)

    def helper_without_flags(values):
        return [v * 2 for v in values]

    def build():
        parser = argparse.ArgumentParser()
        parser.add_argument("--lr", type=float, default="0.1")
        sub = parser.add_subparsers()
        train = sub.add_parser("train")
        train.add_argument("--epochs", type=int, default=3, dest="n_epochs")
        parser.set_defaults(lr=0.5)
        args = parser.parse_args()
        if args.lr is None:
            args.lr = 0.2
        args.hidden = args.hidden or 8
        return args

    def elsewhere(parser):
        parser.set_defaults(batch=16)

    class Commands:
        def unrelated(self):
            return helper_without_flags([1])

        def parse(self, parser):
            parser.add_argument("--beta", action="store_false")

    @app.command("fit")
    def fit(steps: Annotated[int, TyperOption("--steps")] = 10, name: str = typer.Argument("x")):
        pass

    @app.command()
    def show(path: str = typer.Argument("model.pt")):
        pass

    @click.command()
    @opt("--seed", default=1)
    @click.option("--fast/--slow", default=False)
    def run(seed, fast):
        pass

    def plain_tail(x):
        return x + 1
    '''


def test_the_cli_extraction_reads_the_same_options_from_a_sparse_parse():
    from leveraudit.extract.cli import extract_cli

    source = textwrap.dedent(CLI_SHAPES)
    wanted, split, follow, _ = scan.segment_test([], cli=True)
    assert follow   # a parser handed to a helper: the CLI extraction follows names
    sparse_module = parse_module("cli.py", source, wanted, split, follow)
    whole = parse_module("cli.py", source)
    assert sparse_module.blanked == 3   # helper_without_flags, Commands.unrelated, plain_tail
    options = [o.to_json() for o in extract_cli(sparse_module)]
    assert options == [o.to_json() for o in extract_cli(whole)]
    assert {o["dest"] for o in options} >= {"hidden", "lr", "n_epochs", "batch", "beta", "steps", "name", "seed",
                                            "fast", "path"}


def test_lines_after_left_out_definitions_are_the_files_own_even_without_statement_anchors():
    # left-out lines are removed before libcst's parse; evidence lines come from CPython's statements,
    # and where those cannot be paired (the fallback: positions of the whole tree) `line_map` restores them
    source = textwrap.dedent('''\
        import torch

        def unrelated(a):
            return a + 1

        class Model:
            def other(self):
                return 2

            def restore(self, path):
                self.net.load_state_dict(
                    torch.load(path))

        def also_unrelated():
            return 3

        def load_all(paths):
            return [torch.load(p) for p in paths]
        ''')
    sparse_module = parse_module("m.py", source, lambda text: "load" in text, True, False)
    whole = parse_module("m.py", source)
    assert sparse_module.blanked == 3 and sparse_module.text.count("\n") < source.count("\n")
    for module in (sparse_module, whole):
        module._anchors = False
    lines = {whole.code(call): whole.lines(call) for call in whole.calls}
    assert {sparse_module.code(call): sparse_module.lines(call) for call in sparse_module.calls} == \
        {code: lines[code] for code in lines if "load" in code}
    assert sorted(lines[code] for code in lines if "load" in code) == [(11, 12), (12, 12), (18, 18)]


def test_definitions_are_tested_for_whole_names_and_for_the_def_itself():
    # `self.config.$X` needs the name `config`, not `app_config`; a `param` or `guard` on `*.__init__` /
    # `*.forward` needs `def __init__` / `def forward`, not a call of `super().__init__` or a `forwards`
    from leveraudit.checks.base import has_names, may_define

    assert not has_names("self.app_config = load_app_config()", {"self", "config"})
    assert has_names("x = self.config.hidden", {"self", "config"})
    assert not may_define("def setup(self):\n    super().__init__()\n", "*.__init__")
    assert may_define("def __init__(self, config):\n    pass\n", "*.__init__")
    assert may_define("async def \\\n        forward(self, x):\n    pass\n", "Model.forward") is False   # no `Model`
    assert may_define("class Model:\n    async def \\\n        forward(self, x):\n        pass\n", "Model.forward")
    assert not may_define("def forwards(self, apps):\n    return apps.forward\n", "*.forward")
    assert may_define("def forward_all(self):\n    pass\n", "*.forward*")   # a wildcard name: words only


def test_without_names_to_follow_a_class_keeps_only_the_statements_checks_look_at():
    source = textwrap.dedent('''\
        class Options(Base):
            """Docstring."""
            size = (self.config.width,
                    1); kind = "options"
            other = 1

            def __init__(self, config):
                self.config = config

            def helper(self):
                return 2
        ''')
    result = sparse_source(source, lambda text: "config" in text, True, follow_names=False)
    kept = result.text
    assert "size = (self.config.width," in kept and 'kind = "options"' in kept   # sharing a line: kept together
    assert "Docstring" not in kept and "other = 1" not in kept and "def helper" not in kept
    assert [type(s).__name__ for s in result.body[0].body] == ["Assign", "Assign", "FunctionDef"]
    followed = sparse_source(source, lambda text: "config" in text, True)
    assert "Docstring" in followed.text and "other = 1" in followed.text   # methods only are split


def test_the_kinds_that_follow_no_names_never_resolve_one(monkeypatch, tmp_path):
    # `follows_names` false is a promise sparse parsing relies on (it keeps no helper, no import a name
    # resolves through): scanning with those kinds must never ask the module to resolve a name. A kind
    # that starts to, without saying so, turns this red instead of silently reading a left-out definition.
    from leveraudit.checks import KINDS
    from leveraudit.checks.base import CheckKind

    # the kinds that may say so: a new one must join the spec below
    claiming = {name for name, kind in KINDS.items() if type(kind).follows_names is not CheckKind.follows_names}
    assert claiming == {"pattern", "param"}

    def refuse(*args, **kwargs):
        raise AssertionError("a check that follows no names resolved one")

    monkeypatch.setattr(ParsedModule, "resolve", refuse)
    monkeypatch.setattr(ParsedModule, "resolver", refuse)
    spec_path = tmp_path / "spec.yaml"
    spec_path.write_text(textwrap.dedent('''\
        version: 1
        title: local kinds
        lang: en
        items:
          - id: L1
            title: local
            priority: low
            checks:
              - {kind: pattern, id: L1/config, pattern: self.config.$X}
              - {kind: pattern, id: L1/load, pattern: "torch.load($P)", scope: ["*"]}
              - {kind: pattern, id: L1/inside, pattern: "$M.load_state_dict($S)", inside: "if $C: ..."}
              - {kind: param, id: L1/init, function: "*.__init__", name: config, default: {ge: 1}}
        '''), encoding="utf-8")
    spec = load_spec(spec_path)
    evidence = 0
    for root in _roots(tmp_path):
        report = json.loads(_report(spec, root, True, monkeypatch)[0])
        for check in report["items"][0]["checks"]:
            assert "internal error" not in check["message"], (root, check["message"])
            evidence += len(check["evidence"])
    assert evidence > 10



def test_a_definition_test_never_turns_false_with_more_text():
    # sparse parsing appends every alias's meaning (NUL-separated) to rule a definition out before it
    # looks up which aliases it uses; that is exact only if no check kind's test is made false by more text
    import random

    from tests.conftest import FIXTURES

    checks = [check for path in (V3, HEAVY) for _, _, check in load_spec(path).iter_checks()]
    kinds = [(scan.KINDS[check.kind], check) for check in checks]
    kinds = [(kind, check) for kind, check in kinds if kind.segment_relevant(check, "") is not None]
    assert len({check.kind for _, check in kinds}) >= 5
    rng = random.Random(5)
    pieces = [line for path in sorted(FIXTURES.rglob("*.py")) for line in path.read_text(encoding="utf-8").splitlines()]
    flips = 0
    for _ in range(400):
        text = "\n".join(rng.sample(pieces, rng.randint(1, 30)))
        more = "\0" + "\0".join(rng.sample(pieces, rng.randint(1, 5)))
        for kind, check in kinds:
            if kind.segment_relevant(check, text):
                assert kind.segment_relevant(check, text + more), (check.kind, text, more)
            elif kind.segment_relevant(check, text + more):
                flips += 1
    assert flips > 0, "the added text must sometimes make a definition relevant, or the test shows nothing"


def test_definition_lines_are_found_wherever_they_are():
    # the estimate finds `def` / `class` lines from the newline before them; the first line has none
    from tests.conftest import FIXTURES

    def reference(text):
        starts, offset = [], 0
        for line in text.split("\n"):
            if line.startswith(("def ", "async def ", "class ")):
                starts.append(offset)
            offset += len(line) + 1
        return starts

    paths = sorted(FIXTURES.rglob("*.py")) + sorted((REPO / "leveraudit").rglob("*.py"))
    sources = [p.read_text(encoding="utf-8") for p in paths]
    sources += ["def f():\n    pass\n", "class A:\n    def f(self): pass\nasync def g(): pass", "x = 1\n  def y", ""]
    assert sum(len(reference(s)) for s in sources) > 500
    for source in sources:
        assert sparse._definition_starts(source) == reference(source)


@pytest.mark.parametrize("one_alias", [False, True], ids=["an alias per import", "one alias, many modules"])
def test_alias_meanings_cost_linear_time_however_many_there_are(one_alias):
    # a hostile file of n imports and n definitions that use them: what the definition test reads must
    # grow with the file (it was n x n: every meaning appended to every definition)
    def source(n):
        name = (lambda i: "x") if one_alias else (lambda i: f"x{i}")
        return ("".join(f"from mod{i}.sub import fn as {name(i)}\n" for i in range(n)) + "\n"
                + "".join(f"def g{i}(p):\n    return {name(i)}(p)\n\n" for i in range(n)))

    def characters_read(n):
        read = [0]

        def wanted(text):
            read[0] += len(text)
            return "torch" in text and "def load_it" in text

        result = sparse_source(source(n), wanted, True, True, drop_imports=True)
        # an alias per import: no definition is wanted, so neither is any import; one alias bound to n
        # modules: each definition would need them all appended, so each is kept untested, and `x` with it
        assert (result.blanked, result.imports_left_out) == ((0, 0) if one_alias else (n, n))
        return read[0]

    small, large = characters_read(500), characters_read(2000)
    assert large < 5 * small, (small, large)   # four times the file: about four times the reading
    assert large < 60 * len(source(2000))


@pytest.mark.parametrize("wrapper", [
    "{imp}", "if x:\n    {imp}", "try:\n    pass\nexcept E:\n    {imp}", "try:\n    pass\nfinally:\n    {imp}",
    "for a in b:\n    pass\nelse:\n    {imp}", "while c:\n    {imp}", "with m:\n    {imp}", "async def f():\n    {imp}",
    "match v:\n    case 1:\n        {imp}", "class C:\n    def m(self):\n        {imp}",
], ids=lambda w: w.split(":")[0].split()[0].strip("{}"))
def test_an_import_binds_its_alias_wherever_it_stands(wrapper):
    import ast

    from leveraudit.extract.sparse import _imports

    statement = ast.parse(wrapper.format(imp="from torch import load as L")).body[0]
    assert _imports(statement) == {"L": {"torch.load"}}
    assert _imports(ast.parse("x = (lambda: 1)()").body[0]) == {}


UNUSED_IMPORTS = '''\
from __future__ import annotations
import os
import torch
import numpy as np, json
from .helpers import (
    build,
    load_weights as lw,
)
from pkg import *
import a; import b
from typing import Any  # only the left-out definition uses it


def needed(model, path):
    state = torch.load(path)
    return lw(model, state, np)


def not_needed(x: Any):
    return os.path.join(x)
'''


def test_a_module_level_import_no_kept_code_uses_is_left_out():
    result = sparse_source(UNUSED_IMPORTS, lambda text: "torch.load" in text, True, True, drop_imports=True)
    kept = result.text.splitlines()
    assert result.blanked == 1 and result.imports_left_out == 2   # not_needed; `os` and `Any`
    assert "import os" not in kept and not any("typing" in line for line in kept)
    # kept: the future import, what the kept code uses (also through an alias, and any name of a
    # statement), a star import, two imports sharing a line
    for line in ["from __future__ import annotations", "import torch", "import numpy as np, json",
                 "    load_weights as lw,", "from pkg import *", "import a; import b"]:
        assert line in kept, line
    assert [type(s).__name__ for s in result.body] == ["ImportFrom", "Import", "Import", "ImportFrom", "ImportFrom",
                                                        "Import", "Import", "FunctionDef"]
    lines = UNUSED_IMPORTS.split("\n")
    assert all(lines[original - 1] == line for original, line in zip(result.line_map, result.text.split("\n")))
    # without the switch (a check whose fact may be an import itself) every import stays
    assert sparse_source(UNUSED_IMPORTS, lambda text: "torch.load" in text, True, True).imports_left_out == 0


def test_a_pattern_that_matches_an_import_keeps_every_import(tmp_path, monkeypatch):
    from leveraudit.checks import KINDS
    from leveraudit.spec import parse_spec
    from tests.conftest import one_check_spec, write_tree

    spec = parse_spec(one_check_spec({"kind": "pattern", "pattern": "import pickle", "negate": True}))
    assert KINDS["pattern"].reads_imports(spec.items[0].checks[0])
    assert not KINDS["pattern"].reads_imports(parse_spec(one_check_spec({"kind": "pattern", "pattern": "pickle.load($X)"})).items[0].checks[0])
    root = write_tree(tmp_path / "tree", {"m.py": "import pickle\n\n\ndef f():\n    return 1\n\n\ndef g():\n    return 2\n"})
    sparse_report, _ = _report(spec, root, True, monkeypatch)
    whole, _ = _report(spec, root, False, monkeypatch)
    assert sparse_report == whole and json.loads(whole)["items"][0]["status"] == "fail"   # the import is found
