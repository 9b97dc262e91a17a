"""Evidence lines: `ParsedModule.lines` anchors on `ast`'s statement lines and generates only the
innermost statement, and must give exactly what libcst's whole-module positions give."""

from __future__ import annotations

import textwrap
from pathlib import Path

import libcst as cst
import pytest
from libcst.metadata import PositionProvider

from leveraudit.extract.module import ParsedModule

TRICKY = textwrap.dedent('''\
    """Module docstring
    over two lines."""
    import os; import sys
    # a comment before a decorated class

    @decorator(
        arg=1,
    )
    class Trainer(Base,
                  metaclass=Meta):
        """Doc."""

        def one_line(self): return 1

        async def fit(self, *, epochs: int = 3,
                      lr=1e-4) -> None:
            if not self.batches:
                raise ValueError("""multi
    line""")
            elif epochs <= 0: return
            else:
                pass
            for epoch in range(epochs):
                async with self.lock as held, open(x) as f:
                    await self.step(epoch,
                                    f)
            else:
                print("done")
            while False:
                break
            if (epochs and
                    lr):
                pass
            for item in (1,
                         2):
                pass
            with (open(a) as f,
                  open(b) as g):
                pass
            if epochs:
                pass
                # a comment closing the if's block
            elif lr:
                x = 2
            else:
                if x:
                    y = (1,
                         2)
            for item in items:
                z = 1
                # a comment closing the loop
            try:
                x = [i for i in range(3)
                     if i]
            except (KeyError, ValueError) as exc:
                raise RuntimeError(exc) from exc
            except Exception:
                pass
            else:
                y = {"a": 1,
                     "b": 2}
            finally:
                z = lambda q: (
                    q)
            match epochs:
                case 1 | 2:
                    pass
                case {"k": v} if v:
                    pass
                case _:
                    pass
            # a footer comment in the block

    def commented():
        # a block whose first statement has comments and a blank line before it

        return 1

    def helper(a, b=(1,
                     2)):
        return a if b else \\
            None
    ''')


def _full(tree: cst.Module) -> dict:
    # libcst's own positions, through its public metadata API: independent of how leveraudit computes lines
    return cst.MetadataWrapper(tree, unsafe_skip_copy=True).resolve(PositionProvider)


# a def's or class's name read off ast's line for the statement, except where a backslash moves it
CONTINUED = textwrap.dedent('''\
    def \\
            far(a):
        pass

    async \\
      def also_far(): pass

    class \\
        Far(object):
        def near(self):
            return 1

    @decorated
    async def near_too(
        a,
    ): pass
    ''')


@pytest.mark.parametrize("source", [TRICKY, CONTINUED, "type Alias = int\nx = (1,\n     2)\n"],
                         ids=["every-statement", "continued-headers", "ast-cannot-read"])
def test_lines_match_libcst_whole_module_positions_for_every_node(source):
    tree = cst.parse_module(source)
    module = ParsedModule("t.py", source, tree)
    full = _full(tree)
    nodes = [node for nodes in module.by_type.values() for node in nodes]
    assert len(nodes) > (200 if source is TRICKY else 5)
    for node in nodes:
        position = full.get(node)
        expected = (position.start.line, position.end.line) if position else (0, 0)
        assert module.lines(node) == expected, (type(node).__name__, module.code(node)[:60])
    # the first parses with both parsers; the second is Python 3.12 syntax libcst reads and this ast may not
    assert (module._anchors is False) == (source is not TRICKY and not _ast_reads(source))


def _ast_reads(source: str) -> bool:
    import ast

    try:
        ast.parse(source)
        return True
    except SyntaxError:
        return False


def test_unvalidated_parse_gives_the_same_tree_and_restores_validation(tmp_path):
    from libcst._nodes.base import CSTNode

    from leveraudit.extract.module import parse_unvalidated, validating_post_init

    original = CSTNode.__dict__["__post_init__"]
    fixtures = sorted((Path(__file__).parent / "fixtures").rglob("*.py"))[:40] + [None]
    for path in fixtures:
        source = TRICKY if path is None else path.read_text(encoding="utf-8")
        fast = parse_unvalidated(source)
        assert fast.deep_equals(cst.parse_module(source)), path
        assert fast.code == source
    assert CSTNode.__dict__["__post_init__"] is validating_post_init()
    with pytest.raises(cst.ParserSyntaxError):
        parse_unvalidated("def broken(:\n")
    # validation is back after a failed parse: a node built by hand is checked again
    assert CSTNode.__dict__["__post_init__"] is validating_post_init() is original
    with pytest.raises(cst.CSTValidationError):
        cst.Name("not a name")


@pytest.mark.parametrize("types", [(cst.Call,), (cst.Call, cst.Raise, cst.For), (cst.Name, cst.Assign, cst.If)])
def test_descendants_from_the_type_index_equal_a_walk_of_every_subtree(types):
    module = ParsedModule("t.py", TRICKY, cst.parse_module(TRICKY))
    subtrees = [node for nodes in module.by_type.values() for node in nodes]
    assert len(subtrees) > 200
    for node in subtrees:
        assert module.descendants(node, *types) == [n for n in module.walk(node) if type(n) in types]
    # a node outside the index (built here, not parsed with the module) is walked instead
    outside = cst.parse_expression("f(g(x))")
    assert [type(n) for n in module.descendants(outside, cst.Call)] == [cst.Call, cst.Call]


def test_index_skipping_token_only_fields_keeps_every_node(monkeypatch):
    """The index does not read fields whose declared type admits tokens only; reading every field must
    index exactly the same nodes, parents and children (so no annotation hides a node)."""
    import leveraudit.extract.module as module_code

    def shape(module: ParsedModule) -> list:
        return [(type(node).__name__, module.order[id(node)], [module.order[id(c)] for c in module.children.get(id(node), ())])
                for node in module.walk(module.tree)]

    sources = [TRICKY] + [p.read_text(encoding="utf-8") for p in sorted((Path(__file__).parent / "fixtures").rglob("*.py"))]
    trees = [cst.parse_module(source) for source in sources]
    fast = [shape(ParsedModule("t.py", s, t)) for s, t in zip(sources, trees)]
    assert min(module_code._child_fields(k) != tuple(f.name for f in __import__("dataclasses").fields(k))
               for k in (cst.Call, cst.Name))   # the fast index does skip fields
    monkeypatch.setattr(module_code, "_FIELDS", {})
    monkeypatch.setattr(module_code, "_token_only", lambda annotation: False)
    full = [shape(ParsedModule("t.py", s, t)) for s, t in zip(sources, trees)]
    assert fast == full
    assert sum(len(f) for f in fast) > 5000


def test_name_chain_code_read_off_the_chain_is_what_libcst_generates():
    # `ParsedModule.code` reads a plain `a.b.c` off the names; anything with parentheses, spaces or a line
    # break around a dot must still come from libcst's code generation
    source = ("x = ( self . a )\ny = self.\\\n  b\nz = (self).c\nw = self.config.hidden\nv = (self.a).b\n"
              "u = self .c\nt = self. d\ns = ((q))\n" + TRICKY)
    tree = cst.parse_module(source)
    module = ParsedModule("m.py", source, tree)
    seen = plain = 0
    for kind in (cst.Name, cst.Attribute):
        for node in module.by_type.get(kind, []):
            seen += 1
            plain += "(" not in tree.code_for_node(node) and " " not in tree.code_for_node(node)
            assert module.code(node) == tree.code_for_node(node)
    assert seen > 40 and plain > 20


def test_statements_are_paired_only_on_the_way_to_the_node_asked_about():
    # evidence lines pair libcst's statements with ast's level by level, on demand: asking about one
    # call expands only the definitions around it, and the lines are still libcst's own
    source = textwrap.dedent('''\
        def first():
            if a:
                return 1

        class Second:
            def method(self):
                x = 1
                return load(
                    x)

        def third():
            for i in range(3):
                pass
        ''')
    tree = cst.parse_module(source)
    module = ParsedModule("t.py", source, tree)
    call = next(c for c in module.calls if module.code(c).startswith("load"))
    assert module.lines(call) == (8, 9) == (_full(tree)[call].start.line, _full(tree)[call].end.line)
    names = sorted(d.name.value for d in module.defs if id(d) in module._expanded)
    assert names == ["Second", "method"]
