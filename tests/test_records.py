"""Checks reach a worker as plain records (`leveraudit.records`), so that a worker never imports pydantic:
the records must scan exactly as the spec's models do, and a worker of the warm pool must stay free of
pydantic and the report's models while it scans."""

from __future__ import annotations

import json
import os
import pickle
import subprocess
import sys
from pathlib import Path

import pytest

from leveraudit import scan
from leveraudit.records import ConstraintRecord, LocalizedRecord, Record, record
from leveraudit.spec import Constraint, load_spec
from leveraudit.spec.models import Localized

ROOT = Path(__file__).resolve().parent.parent
SPECS = [ROOT / "rules" / "v3.yaml", ROOT / "benchmarks" / "heavy" / "heavy.yaml"]
SOURCES = sorted((ROOT / "tests" / "fixtures").rglob("*.py")) + sorted((ROOT / "leverplus").rglob("*.py"))


def _fields(model) -> dict:
    return {name: getattr(model, name) for name in type(model).__pydantic_fields__}


@pytest.mark.parametrize("spec_path", SPECS, ids=lambda p: p.name)
def test_a_record_holds_every_field_of_its_check(spec_path):
    for _, check_id, check in load_spec(spec_path).iter_checks():
        copied = record(check)
        assert type(copied) is Record and copied._model == type(check).__name__
        assert {k: v for k, v in copied.__dict__.items() if k != "_model"}.keys() == _fields(check).keys(), check_id
        for name, value in _fields(check).items():
            seen = getattr(copied, name)
            if hasattr(type(value), "__pydantic_fields__"):   # a nested model: a record of its own
                assert isinstance(seen, Record) and seen._model == type(value).__name__
                assert {n: getattr(seen, n) for n in _fields(value)} == {n: record(v) for n, v in _fields(value).items()}
            else:
                assert seen == record(value), (check_id, name)
        assert pickle.loads(pickle.dumps(copied)) == copied


def test_records_share_the_models_methods_and_are_frozen():
    for constraint in (Constraint(), Constraint(equals=3, lt=4), Constraint(**{"in": [1, 2]}, le_option="x")):
        copied = record(constraint)
        assert type(copied) is ConstraintRecord
        assert (copied.is_empty(), copied.describe()) == (constraint.is_empty(), constraint.describe())
    for text in (Localized(zh="甲"), Localized(en="a", zh="甲"), Localized()):
        copied = record(text)
        assert type(copied) is LocalizedRecord
        assert [copied.get(lang) for lang in ("zh", "en")] == [text.get(lang) for lang in ("zh", "en")]
    copied = record(Constraint(equals=1))
    with pytest.raises(AttributeError, match="frozen"):
        copied.equals = 2
    assert copied != record(Constraint(equals=2)) and copied == record(Constraint(equals=1))
    # hashable where the model is (a cache keyed by check would work alike), equal records hash alike
    assert hash(copied) == hash(record(Constraint(equals=1)))
    for model in (Constraint(**{"in": [1, 2]}), Localized(en="a"), *[c for _, _, c in load_spec(SPECS[0]).iter_checks()]):
        try:
            hash(model)
        except TypeError:
            with pytest.raises(TypeError):
                hash(record(model))
        else:
            hash(record(model))


@pytest.mark.parametrize("spec_path", SPECS, ids=lambda p: p.name)
def test_records_scan_exactly_as_the_models_do(spec_path):
    checks = [(check_id, check) for _, check_id, check in load_spec(spec_path).iter_checks()]
    copies = [(check_id, record(check)) for check_id, check in checks]
    scanned = 0
    for path in SOURCES:
        text = path.read_text(encoding="utf-8")
        rel = path.relative_to(ROOT).as_posix()
        as_models = scan.scan_file(rel, text, checks, True)
        assert "error" not in as_models and not as_models["check_errors"], (rel, as_models.get("check_errors"))
        assert scan.scan_file(rel, text, copies, True) == as_models, rel
        scanned += sum(len(facts) for facts in as_models["facts"].values())
    assert scanned > 20   # the specs found something to compare in these files


# a CLI's start, as `leveraudit.launch` does it: the warm parent forked before any heavy import, then the
# spec loaded (pydantic) and a job handed to a warm worker; the worker reports the modules it holds
WORKER = r"""
import json, sys
from leveraudit import warmpool
warmpool.start()
pool = warmpool.claim(1)
from leveraudit.engine import run_audit   # what the CLI imports: pydantic, the spec's and the report's models
from leveraudit import scan
from leveraudit.records import record
from leveraudit.spec import load_spec
from tests.probe import modules_loaded
checks = [(check_id, record(check)) for _, check_id, check in load_spec(sys.argv[1]).iter_checks()]
path = sys.argv[2]
job = (path, open(path, encoding="utf-8").read(), checks, True)
facts = pool.submit(scan.scan_batch, [job]).result(timeout=120)[0]
held = pool.submit(modules_loaded, "pydantic", "leveraudit.spec", "leveraudit.report", "leveraudit.engine",
                   "libcst", "leveraudit.scan").result(timeout=60)
pool.shutdown(wait=True)
print(json.dumps({"pool": type(pool).__name__, "held": held, "facts": facts}))
"""


@pytest.mark.skipif(not hasattr(os, "fork") or len(os.sched_getaffinity(0)) < 2,
                    reason="the warm pool forks, and only with two cores or more")
def test_a_warm_worker_scans_without_importing_pydantic():
    source = ROOT / "tests" / "fixtures" / "research_after" / "lever_lm" / "workflows" / "grpo_post_train.py"
    env = {k: v for k, v in os.environ.items() if k != "LEVERAUDIT_WARM_POOL"}
    done = subprocess.run([sys.executable, "-c", WORKER, str(SPECS[0]), str(source)], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["pool"] == "WarmPool"
    assert answer["held"] == ["libcst", "leveraudit.scan"], "a worker imported more than the scan needs"
    checks = [(check_id, check) for _, check_id, check in load_spec(SPECS[0]).iter_checks()]
    expected = scan.scan_file(str(source), source.read_text(encoding="utf-8"), checks, True)
    assert answer["facts"] == json.loads(json.dumps(expected)) and any(answer["facts"]["facts"].values())


def test_the_engine_hands_workers_records_not_models(v3_spec, monkeypatch):
    from leveraudit.engine import run_audit

    handed = []
    real = scan.scan_job

    def recording(job):
        handed.extend(check for _, check in job[2])
        return real(job)

    monkeypatch.setattr(scan, "scan_job", recording)
    report, stats = run_audit(v3_spec, ROOT / "tests" / "fixtures" / "research_after", jobs=1)
    assert stats.parsed > 0 and handed
    assert {type(check) for check in handed} == {Record}
