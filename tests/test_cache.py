"""The per-file fact cache: warm runs reuse it, edits invalidate it, it lives outside the tree."""

from __future__ import annotations

import shutil

from leveraudit.engine import run_audit
from tests.conftest import FIXTURES


def test_warm_run_hits_cache_and_agrees(tmp_path, v3_spec):
    root = tmp_path / "tree"
    shutil.copytree(FIXTURES / "research_before", root)
    cache = tmp_path / "cache"
    cold, cold_stats = run_audit(v3_spec, root, cache_dir=cache, jobs=1)
    warm, warm_stats = run_audit(v3_spec, root, cache_dir=cache, jobs=1)
    assert cold_stats.parsed > 0 and cold_stats.cached == 0
    assert warm_stats.parsed == 0 and warm_stats.cached == cold_stats.parsed
    assert warm.model_dump() == cold.model_dump()
    assert not any(p.name.endswith(".json") for p in root.rglob("*")), "nothing is written into the audited tree"


def _audited_then_edited(tmp_path, spec, jobs: int):
    """The research fixture tree audited once into a cache, then one file edited: (tree, cache)."""
    root = tmp_path / "tree"
    shutil.copytree(FIXTURES / "research_before", root)
    cache = tmp_path / "cache"
    run_audit(spec, root, cache_dir=cache, jobs=jobs)
    shutil.copy(FIXTURES / "research_after" / "lever_lm/models/v3/generate_rl_data.py",
                root / "lever_lm/models/v3/generate_rl_data.py")
    return root, cache


def test_an_edit_invalidates_only_that_file(tmp_path, v3_spec):
    root, cache = _audited_then_edited(tmp_path, v3_spec, jobs=1)
    report, stats = run_audit(v3_spec, root, cache_dir=cache, jobs=1)
    assert stats.parsed == 1
    assert {i.id: i.status for i in report.items}["3.3.1"] == "pass"


def test_parallel_parsing_gives_the_same_report(tmp_path, v3_spec):
    root = tmp_path / "tree"
    for copy in range(10):  # enough lines for the worker pool to be used
        shutil.copytree(FIXTURES / "research_before", root / f"copy{copy}")
    serial, serial_stats = run_audit(v3_spec, root, jobs=1)
    parallel, stats = run_audit(v3_spec, root, jobs=2)
    assert serial_stats.workers == 0 and stats.workers == 2, "the parallel path must really run"
    assert stats.parsed >= 20
    assert parallel.model_dump() == serial.model_dump()


def test_worker_tasks_hold_each_file_once_big_files_alone_small_ones_together():
    from types import SimpleNamespace

    from leveraudit.engine import BATCH_FILES, BATCH_LINES, _batches

    sizes = [BATCH_LINES * 3, 5, BATCH_LINES, 40, 7] + [1] * (2 * BATCH_FILES) + [BATCH_LINES - 1, 2]
    waiting = [(SimpleNamespace(lines=n), ("job", i)) for i, n in enumerate(sizes)]
    batches = _batches(waiting)
    handed = [job for batch in batches for _, job in batch]
    assert sorted(handed) == sorted(job for _, job in waiting), "every file once, none lost"
    lines = [[plan.lines for plan, _ in batch] for batch in batches]
    assert lines[0] == [BATCH_LINES * 3] and lines[1] == [BATCH_LINES], "a big file is a task alone, first"
    assert all(len(b) <= BATCH_FILES for b in lines)
    assert all(sum(b) < BATCH_LINES or len(b) == 1 or sum(b[:-1]) < BATCH_LINES for b in lines)
    assert len(batches) < len(waiting) / 4, "small files share tasks"
    assert [n for b in lines for n in b] == sorted(sizes, reverse=True)


def test_a_warm_run_parses_its_edit_in_a_worker_while_reading_the_rest_and_agrees(tmp_path, v3_spec, monkeypatch):
    from leveraudit import engine

    root, cache = _audited_then_edited(tmp_path, v3_spec, jobs=2)
    monkeypatch.setattr(engine, "OVERLAP_MIN_CACHED", 1)   # the fixture tree is small: overlap anyway
    overlapped, stats = run_audit(v3_spec, root, cache_dir=cache, jobs=2)
    assert stats.workers == 2 and stats.parsed == 1 and stats.cached > 0, "the overlapping path must really run"
    fresh, fresh_stats = run_audit(v3_spec, root, jobs=1)   # no cache, one process
    assert fresh_stats.workers == 0
    assert overlapped.model_dump() == fresh.model_dump()
    assert {i.id: i.status for i in overlapped.items}["3.3.1"] == "pass"


def test_a_same_size_edit_with_its_mtime_restored_is_seen(tmp_path, v3_spec):
    import os

    root = tmp_path / "tree"
    shutil.copytree(FIXTURES / "research_after", root)
    cache = tmp_path / "cache"
    before, _ = run_audit(v3_spec, root, cache_dir=cache, jobs=1)
    assert {i.id: i.status for i in before.items}["3.1"] == "pass"
    target = root / "lever_lm/workflows/grpo_post_train.py"
    stat = target.stat()
    text = target.read_text(encoding="utf-8")
    edited = text.replace('"--grpo_epochs", type=int, default=0,', '"--grpo_epochs", type=int, default=7,')
    assert len(edited.encode()) == len(text.encode()) and edited != text
    target.write_text(edited, encoding="utf-8")
    os.utime(target, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # size and mtime as before
    after, stats = run_audit(v3_spec, root, cache_dir=cache, jobs=1)
    assert stats.read >= 1
    assert {i.id: i.status for i in after.items}["3.1"] == "partial"


def test_cache_entries_are_whole_files_with_no_temporary_left(tmp_path, v3_spec):
    # entries are written as results arrive (while workers parse the rest), each through a temporary
    # file renamed over it; a second run reads every one of them
    from leveraudit.cache import FactCache

    root = tmp_path / "tree"
    for copy in range(10):  # enough lines for the worker pool to be used
        shutil.copytree(FIXTURES / "research_before", root / f"copy{copy}")
    cache = tmp_path / "cache"
    cold, stats = run_audit(v3_spec, root, cache_dir=cache, jobs=2)
    assert stats.workers == 2 and stats.parsed > 10
    entries = [p for p in cache.rglob("*") if p.is_file() and p.parent.parent.name != "index"]
    assert not [p for p in entries if p.name.endswith(".tmp")], "no temporary file is left behind"
    warm, warm_stats = run_audit(v3_spec, root, cache_dir=cache, jobs=2)
    assert warm_stats.parsed == 0 and warm_stats.cached == stats.parsed
    assert warm.model_dump() == cold.model_dump()
    store = FactCache(tmp_path / "other", "fingerprint")
    store.put("ab" + "0" * 62, {"facts": {"x": [1]}})
    store.put("ab" + "1" * 62, {"facts": {}})   # the same folder, made once
    assert store.get("ab" + "0" * 62) == {"facts": {"x": [1]}}
    assert sorted(p.name for p in (tmp_path / "other").rglob("*") if p.is_file()) == \
        sorted(["ab" + "0" * 62 + ".json", "ab" + "1" * 62 + ".json"])


def test_a_cache_entry_is_never_written_through_a_link_left_where_its_temporary_goes(tmp_path):
    # the temporary file's name is predictable (entry + process id): whatever sits there is replaced,
    # never followed or written into
    import os

    from leveraudit.cache import FactCache

    store = FactCache(tmp_path / "cache", "fingerprint")
    digest = "cd" + "2" * 62
    entry = store._path(digest)
    entry.parent.mkdir(parents=True)
    victim = tmp_path / "victim.txt"
    victim.write_text("precious", encoding="utf-8")
    os.link(victim, entry.parent / f"{entry.name}.{os.getpid()}.tmp")   # a hard link: O_TRUNC would write into it
    store.put(digest, {"facts": {}})
    assert victim.read_text(encoding="utf-8") == "precious"
    assert store.get(digest) == {"facts": {}}
    (entry.parent / f"{entry.name}.{os.getpid()}.tmp").symlink_to(victim)
    store.put(digest, {"facts": {"again": []}})
    assert victim.read_text(encoding="utf-8") == "precious" and store.get(digest) == {"facts": {"again": []}}
