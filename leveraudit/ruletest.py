"""`leveraudit test`: run a spec over fixture trees whose expected verdicts are written beside them.

Each sub-folder of FIXTURES_DIR is one audited root. Expectations come from `expect.yaml` in it::

    items: {"3.1": pass, "3.3.1": partial}
    checks: {"3.3.3/passed-to-datasets": fail}

and/or from inline comments in its files: `# expect: fail 3.3.2` (an item or check id). Every
expectation must hold; a fixture without any is an error, so a typo cannot pass vacuously.

Variants: a `*.variants.yaml` file in FIXTURES_DIR describes trees as small edits of a base tree,
so a corpus of rewrites and regressions needs no copies::

    base: ../fixtures/research_after        # relative to this file; it has an expect.yaml
    variants:
      - name: guard-in-else-branch
        kind: rewrite                        # rewrite (every verdict as in the base) | breaking
        why: the GRPO phase runs only in the else of the guard
        edits:
          - {file: a.py, replace: "old text", with: "new text", count: 1, indent: 8}
          - {file: b.py, create: "text"}     # or {file: c.py, copy_from: a.py}, {file: d.py, delete: true}
        expect: {items: {"3.1": partial}}    # overrides of the base's expectations

`indent: N` prefixes every line of both `replace` and `with` with N spaces, so code blocks can be
written dedented. A variant's expectations are the base's with its own on top, so every item stays pinned. An edit
whose `replace` text does not occur `count` times is an error, never a silent no-op.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import textwrap
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import yaml

from leveraudit.engine import run_audit
from leveraudit.extract.discover import read_raw_text
from leveraudit.userfiles import read_user_file
from leveraudit.spec.models import Spec

_INLINE = re.compile(r"#\s*expect:\s*(pass|partial|fail|error|suppressed)\s+([A-Za-z0-9._/#-]+)")


@dataclass
class FixtureResult:
    name: str
    expected: int = 0
    mismatches: list[str] = field(default_factory=list)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None and not self.mismatches and self.expected > 0


def expectations(root: Path) -> dict[str, str]:
    expected: dict[str, str] = {}
    path = root / "expect.yaml"
    if path.exists() and not path.is_symlink():
        document = yaml.safe_load(read_user_file(path, "expectations")) or {}
        if not isinstance(document, dict) or set(document) - {"items", "checks"}:
            raise ValueError(f"{path}: expected a mapping with `items` and/or `checks`")
        for section in ("items", "checks"):
            for key, status in (document.get(section) or {}).items():
                expected[str(key)] = str(status)
    for source in _fixture_files(root):
        if source.suffix in (".py", ".sh", ".md", ".yaml", ".yml") and source.name != "expect.yaml":
            text = read_raw_text(source)  # regular files only, never through a link, size-capped
            for match in _INLINE.finditer(text or ""):
                expected[match.group(2)] = match.group(1)
    return expected


def _fixture_files(root: Path) -> list[Path]:
    """The files of a fixture tree, walked without following links (a link may point anywhere)."""
    found = []
    for current, dirnames, filenames in os.walk(root, followlinks=False):
        dirnames[:] = sorted(d for d in dirnames if not os.path.islink(os.path.join(current, d)))
        found += [Path(current) / name for name in sorted(filenames)
                  if not os.path.islink(os.path.join(current, name))]
    return found


def _inside(root: Path, rel: str) -> Path:
    """`root / rel`, refusing a path that passes through a link (an edit must not write outside)."""
    path = root
    for part in PurePosixPath(rel).parts:
        path = path / part
        if path.is_symlink():
            raise ValueError(f"edit path {rel!r} passes through a symbolic link")
    return path


def run_fixture(spec: Spec, root: Path, name: str | None = None, expected: dict[str, str] | None = None) -> FixtureResult:
    result = FixtureResult(name or root.name)
    if expected is None:
        try:
            expected = expectations(root)
        except (ValueError, yaml.YAMLError) as exc:
            result.error = str(exc)
            return result
    if not expected:
        result.error = "no expectations (expect.yaml or `# expect:` comments)"
        return result
    report, _ = run_audit(spec, root, jobs=1)
    actual = {item.id: item.status for item in report.items}
    actual.update({check.id: check.status for item in report.items for check in item.checks})
    result.expected = len(expected)
    for key, status in sorted(expected.items()):
        if key not in actual:
            result.mismatches.append(f"{key}: not an item or check id of the spec")
        elif actual[key] != status:
            result.mismatches.append(f"{key}: expected {status}, got {actual[key]}")
    return result


@dataclass
class Variant:
    name: str
    kind: str
    base: Path
    edits: list[dict]
    expect: dict[str, str]
    why: str = ""


def _safe_rel(rel: object) -> str:
    path = PurePosixPath(str(rel))
    if not str(rel) or path.is_absolute() or ".." in path.parts:
        raise ValueError(f"edit path {rel!r} must stay inside the tree")
    return str(path)


def load_variants(path: Path) -> list[Variant]:
    document = yaml.safe_load(read_user_file(path, "variants file")) or {}
    if not isinstance(document, dict) or not isinstance(document.get("variants"), list):
        raise ValueError(f"{path}: expected a mapping with `base` and a `variants` list")
    variants = []
    for entry in document["variants"]:
        if not isinstance(entry, dict) or set(entry) - {"name", "kind", "why", "base", "edits", "expect"} or "name" not in entry:
            raise ValueError(f"{path}: each variant needs `name` and only name/kind/why/base/edits/expect")
        base = (path.parent / str(entry.get("base") or document.get("base") or "")).resolve()
        if not base.is_dir():
            raise ValueError(f"{path}: variant {entry['name']}: base {base} is not a directory")
        expected = expectations(base)
        override = entry.get("expect") or {}
        if set(override) - {"items", "checks"}:
            raise ValueError(f"{path}: variant {entry['name']}: `expect` takes `items` and `checks`")
        for section in ("items", "checks"):
            expected.update({str(k): str(v) for k, v in (override.get(section) or {}).items()})
        kind = str(entry.get("kind", "rewrite"))
        if kind not in ("rewrite", "breaking"):
            raise ValueError(f"{path}: variant {entry['name']}: kind is rewrite or breaking")
        if kind == "rewrite" and override.get("items"):
            raise ValueError(f"{path}: variant {entry['name']}: a rewrite keeps every item's verdict")
        variants.append(Variant(f"{path.name.split('.')[0]}::{entry['name']}", kind, base, list(entry.get("edits") or []),
                                expected, str(entry.get("why", ""))))
    return variants


def materialize(variant: Variant, target: Path) -> Path:
    """The base tree with the variant's edits applied, under `target`."""
    root = target / "tree"
    # links are copied as links, never as the files they point at
    shutil.copytree(variant.base, root, ignore=shutil.ignore_patterns("expect.yaml"), symlinks=True)
    for edit in variant.edits:
        rel = _safe_rel(edit.get("file", ""))
        path = _inside(root, rel)
        if "create" in edit:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(str(edit["create"]), encoding="utf-8")
        elif "copy_from" in edit:
            path.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(_inside(root, _safe_rel(edit["copy_from"])), path)
        elif edit.get("delete"):
            path.unlink()
        elif "replace" in edit:
            text = path.read_text(encoding="utf-8")
            old, new, count = str(edit["replace"]), str(edit.get("with", "")), int(edit.get("count", 1))
            if edit.get("indent"):  # both blocks are written dedented in YAML and indented here
                old, new = (textwrap.indent(s, " " * int(edit["indent"])) for s in (old, new))
            if text.count(old) < count:
                raise ValueError(f"{rel}: the text to replace occurs {text.count(old)} time(s), expected {count}: "
                                 f"{old.strip().splitlines()[0] if old.strip() else old!r}")
            path.write_text(text.replace(old, new, count), encoding="utf-8")
        else:
            raise ValueError(f"{rel}: an edit needs replace/with, create, copy_from or delete")
    return root


def run_variant(spec: Spec, variant: Variant) -> FixtureResult:
    with tempfile.TemporaryDirectory(prefix="leveraudit-variant-") as scratch:
        try:
            root = materialize(variant, Path(scratch))
        except (OSError, ValueError) as exc:
            return FixtureResult(variant.name, error=str(exc))
        return run_fixture(spec, root, variant.name, variant.expect)


def run_fixtures(spec: Spec, fixtures_dir: Path) -> list[FixtureResult]:
    roots = sorted(p for p in fixtures_dir.iterdir() if p.is_dir() and not p.name.startswith("."))
    results = [run_fixture(spec, root) for root in roots]
    for path in sorted(fixtures_dir.glob("*.variants.yaml")):
        try:
            variants = load_variants(path)
        except (OSError, ValueError, yaml.YAMLError) as exc:
            results.append(FixtureResult(path.name, error=str(exc)))
            continue
        results += [run_variant(spec, variant) for variant in variants]
    return results
