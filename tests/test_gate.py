"""CI-gate modes: --baseline fails only on regressions; --changed-since limits evidence to changed files."""

from __future__ import annotations

import json
import shutil
import subprocess

from typer.testing import CliRunner

from leveraudit.cli import app
from tests.conftest import FIXTURES, V3

runner = CliRunner()
TRAIN = "lever_lm/workflows/grpo_post_train.py"


def check(root, *extra):
    return runner.invoke(app, ["check", "--spec", str(V3), str(root), "--no-cache", *map(str, extra)])


def edit(root, rel, old, new):
    path = root / rel
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_baseline_fails_only_on_regressions(tmp_path):
    root = tmp_path / "tree"
    shutil.copytree(FIXTURES / "research_before", root)
    baseline = tmp_path / "baseline.json"
    assert check(root, "-f", "json", "-o", baseline).exit_code == 1, "the before tree fails the plain gate"

    edit(root, "lever_lm/models/v3/dataset_v3.py", "import json\n", "import json  # unrelated edit\n\n")
    unchanged = check(root, "--baseline", baseline, "-f", "json")
    assert unchanged.exit_code == 0, unchanged.stderr
    assert json.loads(unchanged.stdout)["baseline"]["regressions"] == []

    edit(root, TRAIN, 'parser.add_argument("--rce_epochs", type=int, default=5,', 'parser.add_argument("--rce_epochs", type=int, default=1,')
    broken = check(root, "--baseline", baseline, "-f", "json")
    assert broken.exit_code == 1
    found = json.loads(broken.stdout)["baseline"]["regressions"]
    assert {"kind": "item", "id": "3.1", "was": "pass", "now": "partial"} in found
    assert "item 3.1: pass -> partial" in broken.stderr


def test_a_new_failing_call_is_a_regression_even_if_the_item_already_failed(tmp_path):
    root = tmp_path / "tree"
    shutil.copytree(FIXTURES / "research_before", root)
    baseline = tmp_path / "baseline.json"
    check(root, "-f", "json", "-o", baseline)
    edit(root, TRAIN, "    train_loader = DataLoader(", "    extra = RLBeamDatasetWithEmbedding(rl_data=val_data)\n    train_loader = DataLoader(")
    result = check(root, "--baseline", baseline, "-f", "json")
    assert result.exit_code == 1
    kinds = {(r["kind"], r["id"]) for r in json.loads(result.stdout)["baseline"]["regressions"]}
    assert kinds == {("finding", "3.3.3/passed-to-datasets")}


def test_changed_since_limits_evidence_but_not_verdicts(tmp_path):
    root = tmp_path / "tree"
    shutil.copytree(FIXTURES / "research_before", root)
    git = lambda *args: subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True)  # noqa: E731
    git("init", "-q")
    git("-c", "user.email=t@t", "-c", "user.name=t", "commit", "-q", "--allow-empty", "-m", "base")
    git("add", "-A")
    git("-c", "user.email=t@t", "-c", "user.name=t", "commit", "-q", "-m", "tree")
    edit(root, "lever_lm/models/v3/dataset_v3.py", "import json\n", "import json\n\n")
    result = check(root, "--changed-since", "HEAD", "-f", "json")
    report = json.loads(result.stdout)
    paths = {e["path"] for i in report["items"] for c in i["checks"] for e in c["evidence"]}
    assert paths == {"lever_lm/models/v3/dataset_v3.py"}
    assert report["summary"]["pass"] == 5 and report["changed_since"] == "HEAD"
    bad = check(root, "--changed-since", "no-such-rev")
    assert bad.exit_code == 2 and "no-such-rev" in bad.stderr
