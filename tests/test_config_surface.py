"""Config-surface lint on a research-style tree with drifted scripts, docs and YAML: every planted
drift is reported once, at the right path:line, with the right hint, and nothing else."""

from __future__ import annotations

import json
import shutil

from typer.testing import CliRunner

from leveraudit.cli import app
from leveraudit.engine import run_audit
from tests.conftest import FIXTURES, REPO

runner = CliRunner()
SURFACE_CHECKS = ("3.1/launchers-keep-defaults", "3.1/configs-match-defaults", "3.3.3/documented-invocations",
                  "3.3.3/documented-flags-exist")


def drifted_tree(tmp_path):
    root = tmp_path / "tree"
    shutil.copytree(FIXTURES / "research_after", root)
    shutil.copytree(REPO / "tests" / "data" / "drift_overlay", root, dirs_exist_ok=True)
    return root


def findings(report):
    return sorted((check.id, e.path, e.line, e.message["en"]) for item in report.items for check in item.checks
                  if check.id in SURFACE_CHECKS for e in check.evidence)


def test_every_planted_drift_is_reported_once_and_nothing_else(tmp_path, v3_spec):
    report, _ = run_audit(v3_spec, drifted_tree(tmp_path), jobs=1)
    assert findings(report) == [
        ("3.1/configs-match-defaults", "configs/v3_train.yaml", 2,
         "`rce_epochs: 1` but `--rce_epochs` defaults to `5` (lever_lm/workflows/grpo_post_train.py:212); "
         "the YAML is stale (the plan says == 5); no code mentions this file, so its value never applies"),
        ("3.1/launchers-keep-defaults", "scripts/train_v3_grpo.sh", 10,
         "`--grpo_epochs 3` overrides the plan's default for `grpo_epochs` (== 0): expected 0"),
        ("3.1/launchers-keep-defaults", "scripts/train_v3_grpo.sh", 11,
         "`python -m lever_lm.workflows.grpo_post_train` has no option `--skip_fallback_reward`; "
         "did you mean `--no_skip_fallback_reward`?"),
        ("3.3.3/documented-flags-exist", "docs/train.md", 9,
         "`--skip_fallback_reward` is documented but no program defines it; the code has `--no_skip_fallback_reward`"),
        ("3.3.3/documented-invocations", "docs/train.md", 14,
         "`python -m lever_lm.workflows.grpo_post_train` has no option `--freeze-backbone-in-grpo`; "
         "did you mean `--freeze_backbone_in_grpo`?"),
    ]
    assert {i.id: i.status for i in report.items} == {i: "pass" for i in
                                                      ("3.1", "3.2", "3.3.1", "3.3.2", "3.3.3", "3.4", "3.5.1", "3.5.2")}


def test_clean_tree_has_no_surface_findings(v3_spec):
    report, _ = run_audit(v3_spec, FIXTURES / "research_after", jobs=1)
    assert findings(report) == []


def test_surface_command_lists_every_option(tmp_path):
    root = drifted_tree(tmp_path)
    result = runner.invoke(app, ["surface", str(root), "--format", "json"])
    assert result.exit_code == 0, result.output
    options = json.loads(result.stdout)
    trainer = {o["dest"]: o for o in options if o["path"] == "lever_lm/workflows/grpo_post_train.py"}
    assert trainer["skip_fallback_reward"]["default"] is True and trainer["skip_fallback_reward"]["flags"] == ["--no_skip_fallback_reward"]
    assert trainer["rce_epochs"]["default"] == 5 and trainer["rce_epochs"]["line"] == 212
    table = runner.invoke(app, ["surface", str(root)])
    assert table.exit_code == 0 and "--no_skip_fallback_reward" in table.stdout


# -- the shell and Markdown parsers (tree-sitter-bash, markdown-it-py) ------------------------------
def _flags(invocations):
    return sorted((i.target, a.flag, a.value, a.line) for i in invocations for a in i.arguments)


def test_commands_built_in_strings_arrays_and_bash_c_are_read():
    from leveraudit.extract.invocations import shell_invocations

    script = (
        'E=5\n'
        'CMD="python -m pkg.train --epochs $E"\n'
        'CMD="$CMD --grpo_epochs 0"\n'
        'eval $CMD\n'
        'ARR=(python -m pkg.train --lr 1e-4)\n'
        '"${ARR[@]}" --warmup "${W:-2}"\n'
        "bash -c 'python tools/x.py --dry-run'\n"
    )
    found = shell_invocations("run.sh", script, set())
    assert _flags(found) == [("pkg.train", "--epochs", "5", 4), ("pkg.train", "--grpo_epochs", "0", 4),
                             ("pkg.train", "--lr", "1e-4", 6), ("pkg.train", "--warmup", "2", 6),
                             ("tools/x.py", "--dry-run", None, 7)]


def test_case_arms_give_every_value_a_variable_may_hold():
    from leveraudit.extract.invocations import shell_invocations

    script = ('case "$1" in\n  fast) G=0 ;;\n  *) G=3 ;;\nesac\n'
              'if [ -n "$DEBUG" ]; then\n  L=1\nelse\n  L=2\nfi\n'
              'python -m pkg.train --grpo_epochs "$G" --lr $L\n')
    values = {(a.flag, a.value) for i in shell_invocations("run.sh", script, set()) for a in i.arguments}
    assert {("--grpo_epochs", "0"), ("--grpo_epochs", "3"), ("--lr", "1"), ("--lr", "2")} <= values


def test_markdown_fences_and_inline_code_come_from_a_real_parser():
    from leveraudit.extract.invocations import inline_flags, markdown_parts

    text = ("Use `--rce_epochs 5`.\n\n"
            "~~~bash\n$ python -m pkg.train --a 1\n~~~\n\n"
            "```python\nparser.add_argument('--not-a-command')\n```\n\n"
            "    python -m pkg.train --indented\n\n"
            "- a list with `--grpo_epochs`\n"
            "```sh\npython -m pkg.train --never-closed\n")
    blocks, spans = markdown_parts(text)
    assert [(line, block.strip()) for line, block in blocks] == [(4, "python -m pkg.train --a 1"),
                                                                 (15, "python -m pkg.train --never-closed")]
    assert inline_flags(spans) == [("--rce_epochs", 1), ("--grpo_epochs", 13)]


def test_invocations_of_files_outside_the_tree_are_not_read(tmp_path):
    from leveraudit.surface import Surface

    outside = tmp_path / "outside.py"
    outside.write_text("import argparse\np = argparse.ArgumentParser()\np.add_argument('--secret')\n")
    root = tmp_path / "tree"
    (root / "scripts").mkdir(parents=True)
    (root / "scripts" / "run.sh").write_text(f"python {outside} --secret 1\npython ../outside.py --secret 2\n")
    surface = Surface(root, [], [])
    invocations = surface.invocations(["**/*.sh"], [])
    assert len(invocations) == 2
    assert [surface.resolve(i) for i in invocations] == [None, None]


def test_module_invocations_never_read_outside_the_tree_nor_through_links(tmp_path):
    from leveraudit.surface import Surface

    outside = tmp_path / "outside.py"
    outside.write_text("import argparse\np = argparse.ArgumentParser()\np.add_argument('--secret')\n")
    root = tmp_path / "tree"
    (root / "scripts").mkdir(parents=True)
    (root / "pkg").mkdir()
    (root / "pkg" / "linked.py").symlink_to(outside)
    dotted = ".." + ".".join(outside.with_suffix("").parts[1:])   # `python -m ..tmp.x.outside`: //tmp/x/outside.py
    (root / "scripts" / "run.sh").write_text(f"python -m {dotted} --secret 1\npython -m pkg.linked --secret 2\n")
    surface = Surface(root, [], [])
    invocations = surface.invocations(["**/*.sh"], [])
    assert [i.target for i in invocations] == [dotted, "pkg.linked"]
    assert [surface.resolve(i) for i in invocations] == [None, None]
    assert surface.options_in("pkg/linked.py") == []


def test_a_programs_options_are_cached_by_its_content(tmp_path, monkeypatch):
    import leveraudit.surface as surface_module
    from leveraudit.surface import Surface

    parses = []
    real_parse = surface_module.parse_module
    monkeypatch.setattr(surface_module, "parse_module", lambda *a, **k: parses.append(a[0]) or real_parse(*a, **k))
    root = tmp_path / "tree"
    (root / "pkg").mkdir(parents=True)
    program = root / "pkg" / "train.py"
    program.write_text("import argparse\np = argparse.ArgumentParser()\np.add_argument('--lr', default=0.1)\n")
    cache = tmp_path / "cache"

    def options():
        return [(o.dest, o.default) for o in Surface(root, [], [], cache).options_in("pkg/train.py")]

    assert options() == [("lr", 0.1)] and parses == ["pkg/train.py"]
    assert options() == [("lr", 0.1)] and len(parses) == 1        # a new audit: from the cache
    program.write_text(program.read_text().replace("0.1", "0.2"))
    assert options() == [("lr", 0.2)] and len(parses) == 2        # changed content is parsed again
    assert [(o.dest, o.default) for o in Surface(root, [], []).options_in("pkg/train.py")] == [("lr", 0.2)]


def test_a_documents_markdown_is_parsed_once_per_content(tmp_path, monkeypatch):
    import leveraudit.surface as surface_module
    from leveraudit.surface import Surface

    parsed = []
    real = surface_module.markdown_parts
    monkeypatch.setattr(surface_module, "markdown_parts", lambda text: parsed.append(text) or real(text))
    root = tmp_path / "tree"
    root.mkdir()
    readme = root / "README.md"
    readme.write_text("Run `--lr 1`:\n\n```bash\npython -m pkg.train --lr 2\n```\n")

    def parts():
        surface = Surface(root, [], [], tmp_path / "cache")
        source = surface.files(["README.md"])[0]
        return surface.markdown_parts(source), surface.markdown_parts(source)

    first, again = parts()
    assert first == again == ([(4, "python -m pkg.train --lr 2")], [("--lr 1", 1)]) and len(parsed) == 1
    assert parts()[0] == first and len(parsed) == 1            # a new audit: from the cache, tuples again
    readme.write_text(readme.read_text().replace("--lr 2", "--lr 3"))
    assert parts()[0][0] == [(4, "python -m pkg.train --lr 3")] and len(parsed) == 2
