"""A parsed file is freed as soon as its scan is done.

The audit pauses the cyclic garbage collector (libcst trees are large and acyclic), so anything that
closes a cycle through a parsed module — a function model pointing back at its module, a memo in
`analysis_cache` — would keep every tree alive until the run ends: memory growing with the tree's
size, and a long pause at the end while it is all torn down."""

from __future__ import annotations

import gc
import weakref

import leveraudit.engine as engine
import leveraudit.scan as scan
from tests.conftest import FIXTURES


def test_every_parsed_module_is_freed_by_reference_counting(v3_spec, monkeypatch):
    parsed: list[weakref.ref] = []
    real_parse = scan.parse_module

    def recording_parse(*args, **kwargs):
        module = real_parse(*args, **kwargs)
        parsed.append(weakref.ref(module))
        return module

    monkeypatch.setattr(scan, "parse_module", recording_parse)
    was_enabled = gc.isenabled()
    gc.disable()   # as during an audit: only reference counting frees anything
    try:
        report, stats = engine.run_audit(v3_spec, FIXTURES / "research_after", jobs=1)
        assert stats.functions > 0   # the control- and data-flow layer ran (it is what makes cycles)
        alive = [ref() for ref in parsed if ref() is not None]
    finally:
        if was_enabled:
            gc.enable()
    assert len(parsed) == stats.parsed > 0
    assert alive == [], f"{len(alive)} parsed module(s) outlived their scan: {[m.rel for m in alive]}"
