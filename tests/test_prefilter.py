"""The pre-filter never changes a verdict: the exact second stage (identifiers in code, not in strings or
comments) gives byte-identical reports with the stage off, and it keeps files it could not read."""

from __future__ import annotations

import re
import tempfile
from pathlib import Path

import pytest

import leveraudit.engine as engine
from leveraudit.engine import run_audit
from leveraudit.report import TEXT_RENDERERS
from leveraudit.ruletest import load_variants, materialize
from leveraudit.spec import load_spec
from tests.conftest import REPO, V3

HEAVY = REPO / "benchmarks" / "heavy" / "heavy.yaml"


def _report(spec, root: Path, exact: bool, monkeypatch) -> tuple[str, int]:
    monkeypatch.setattr(engine, "EXACT_PREFILTER", exact)
    report, stats = run_audit(spec, root, jobs=1)
    return TEXT_RENDERERS["json"](report, "en"), stats.parsed


def _variant_roots():
    variants = [v for path in sorted((REPO / "tests" / "corpus").glob("*.variants.yaml")) for v in load_variants(path)]
    return variants[::6]   # every sixth variant: both files of the corpus, rewrites and breaking edits


@pytest.mark.parametrize("spec_path", [V3, HEAVY], ids=["v3", "heavy"])
def test_reports_are_identical_with_the_exact_stage_off(spec_path, monkeypatch, tmp_path):
    spec = load_spec(spec_path)
    roots = [REPO / "tests" / "fixtures" / "research_before", REPO / "tests" / "fixtures" / "research_after",
             REPO / "tests" / "plans" / "hardening" / "gaps"]
    for index, variant in enumerate(_variant_roots()):
        roots.append(materialize(variant, tmp_path / str(index)))
    for root in roots:
        exact, _ = _report(spec, root, True, monkeypatch)
        plain, _ = _report(spec, root, False, monkeypatch)
        assert exact == plain, root


def test_the_exact_stage_skips_names_in_docstrings_but_keeps_a_file_it_cannot_read(monkeypatch, tmp_path):
    (tmp_path / "docs_only.py").write_text('"""Call torch.load(path) and model.load_state_dict(sd)."""\n'
                                           "# torch.load is mentioned here too\nVALUE = 1\n", encoding="utf-8")
    (tmp_path / "real.py").write_text("import torch\n\ndef restore(m, p):\n    m.load_state_dict(torch.load(p))\n",
                                      encoding="utf-8")
    (tmp_path / "broken.py").write_text("# torch.load\ndef broken(:\n", encoding="utf-8")
    spec = load_spec(HEAVY)
    exact, parsed_exact = _report(spec, tmp_path, True, monkeypatch)
    plain, parsed_plain = _report(spec, tmp_path, False, monkeypatch)
    assert exact == plain
    assert "broken.py" in exact            # the syntax error is still reported to the checks that needed it
    assert (parsed_plain, parsed_exact) == (3, 2)   # only the docstring-only file is left unparsed


def test_a_check_the_exact_stage_spared_still_hears_of_a_syntax_error(monkeypatch, tmp_path):
    # `torch.load` only in a comment spares H2 the scan, but `forward` keeps the file: when it does not
    # parse, H2 is undecided (⛔) as it would be without the second stage
    (tmp_path / "broken.py").write_text("# torch.load(p)\nclass M:\n    def forward(self, x:\n", encoding="utf-8")
    spec = load_spec(HEAVY)
    exact, _ = _report(spec, tmp_path, True, monkeypatch)
    plain, _ = _report(spec, tmp_path, False, monkeypatch)
    assert exact == plain
    import json

    statuses = {c["id"]: c["status"] for item in json.loads(exact)["items"] for c in item["checks"]}
    assert statuses["H2/weights-only"] == "error"


CALLEE_CODE = '''\
from torch import load as tl
import torch as th
class M(Base):
    def __init__(self):
        super().__init__()
        super(M, self).__init__()
        (super().__init__)()
        self.layers[0].load_state_dict(sd)
        get_model().load_state_dict(sd, strict=False)
        self.model.load_state_dict(sd)
        tl("x.pt"); th.load("y.pt"); make()(); x[1](2)
        (th.load)("z.pt"); (self.model).load_state_dict(sd); (get_model().load_state_dict)(sd)
'''


@pytest.mark.parametrize("glob", ["load_state_dict", "__init__", "torch.load", "load", "*.load_state_dict",
                                  "super().__init__", "*init*", "get_model().load_state_dict", "x.y"])
def test_call_matches_agrees_with_matching_the_generated_callee_text(glob):
    """`call_matches` skips generating a callee's text when the last name already rules a plain glob out;
    it must decide every call exactly as matching the generated text does."""
    import libcst as cst

    from leveraudit.checks.call_kwarg import call_matches, callee_matches
    from leveraudit.extract.module import ParsedModule

    sources = [CALLEE_CODE] + [p.read_text(encoding="utf-8") for p in sorted((REPO / "tests" / "fixtures").rglob("*.py"))]
    decided = 0
    for source in sources:
        module = ParsedModule("t.py", source, cst.parse_module(source))
        for call in module.calls:
            expected = callee_matches(module.resolve(call.func), module.callee_text(call.func, 200), glob)
            assert call_matches(module, call, glob) == expected, (glob, module.code(call.func))
            decided += expected
    assert decided or glob == "x.y"


ALIASED_CALLS = ["import torch.serialization as ser\nser.load(p)\n", "from .torch import load\nload(p)\n",
                 "import torch as T\nT.load(p)\n", "from torch import *\nload(p)\n",
                 "def f():\n    from torch import load as L\n\ndef g(p):\n    return L(p)\n"]


@pytest.mark.parametrize("glob", ["torch.load", "torch.*", "tor*.load", "*.lo?d", "serialization.load",
                                  "*.load_state_dict", "super().__init__", "get_model().load_state_dict", "load"])
def test_a_file_with_a_matching_call_always_passes_the_callee_pre_filter(glob):
    """`may_call` (the text test of `call_kwarg` and `checked_load`) is necessary: every file holding a
    call `call_matches` accepts passes it, whatever import the callee resolves through."""
    import libcst as cst

    from leveraudit.checks.call_kwarg import call_matches, may_call
    from leveraudit.extract.module import ParsedModule

    sources = [CALLEE_CODE] + ALIASED_CALLS + [p.read_text(encoding="utf-8")
                                               for p in sorted((REPO / "tests" / "fixtures").rglob("*.py"))]
    matched = 0
    for source in sources:
        module = ParsedModule("t.py", source, cst.parse_module(source))
        if any(call_matches(module, call, glob) for call in module.calls):
            matched += 1
            assert may_call(source, glob), (glob, source[:80])
    assert matched


def test_a_dotted_callee_needs_each_of_its_names():
    from leveraudit.checks.call_kwarg import may_call

    assert not may_call("import json\nwith open(p) as f:\n    json.load(f)\n", "torch.load")
    assert may_call("import torch\ntorch.load(p)\n", "torch.load")
    assert not may_call("import torch\ntorch.save(p)\n", "torch.load")
    assert may_call("import json\njson.load(f)\n", "*.load")


# the string-literal grammar as first written (an alternation per character, a lazy match to the closing
# triple): the unrolled form in extract/module.py must find exactly the same strings and comments
_PLAIN_STRING_BODY = r'"""[\s\S]*?"""|\'\'\'[\s\S]*?\'\'\'|"(?:\\.|[^"\\\n])*"|\'(?:\\.|[^\'\\\n])*\''
_PLAIN = re.compile(rf'(?=["\'#])(?:(?P<string>{_PLAIN_STRING_BODY})|#[^\n]*)')


def _plain_blank(match: re.Match) -> str:   # what code_text keeps, as first written
    if match.group("string") is None:
        return " "
    start = match.start()
    return match.group(0) if "f" in match.string[max(0, start - 2):start].lower() else " "
_TRICKY = ['x = """a "" b"""', "y = '''it''s'''", 's = "a\\"b" # c', "t = 'a\\\\' + 'b'", 'u = """a\\""""',
           'v = """unclosed', "w = 'newline\nx'", 'f"{a}" # "q"', '# only "a comment\'', "rb'\\x'", '""""""',
           "'''''''", '"\\\nx"', 'a = "é" + \'ü\'  # ñ', "'at the start' + f", 'F"x" rf"y" fR"z"']


def test_the_unrolled_string_grammar_blanks_what_the_plain_one_does():
    from leveraudit.extract import module

    random = __import__("random").Random(11)
    alphabet = ["'", '"', "#", "\\", "\n", "a", " ", "f", "F", "r", "(", "é"]
    samples = _TRICKY + ["".join(random.choice(alphabet) for _ in range(random.randrange(1, 40))) for _ in range(20000)]
    samples += [path.read_text(encoding="utf-8") for path in sorted((REPO / "leveraudit").rglob("*.py"))]
    for text in samples:
        assert module.without_strings_and_comments(text) == _PLAIN.sub(" ", text), repr(text)
        assert module.code_text(text) == _PLAIN.sub(_plain_blank, text), repr(text)
