"""`pattern`: a structural pattern (alternatives) with `$X` metavariables and `...` wildcards.

`inside` restricts matches to nodes enclosed by a match of another pattern (semgrep's
`pattern-inside`), `scope` to defs whose qualified names match globs, `mentions` to matches whose
code contains a regex. With `follow: true` sub-expressions match through locals and one-line
helpers (`ps = [p for p in m.parameters() if p.requires_grad]; AdamW(ps)` matches
`$O([$P for $P in ... if $P.requires_grad])`). With `negate: true` the check passes when nothing
matches. Matches in code no path reaches do not count.
"""

from __future__ import annotations

import re

from leveraudit.checks.base import (
    FAIL,
    PARTIAL,
    PASS,
    CheckKind,
    L,
    Outcome,
    evidence_for,
    has_names,
    names_in_glob,
    pattern_names,
    pattern_words,
    to_evidence,
)
from leveraudit.extract.pattern import compile_pattern, find_any, resolving


class PatternKind(CheckKind):
    kind = "pattern"

    def relevant(self, check, text):
        # each test is necessary for a match, so skipping the file can never lose one
        if check.inside and not all(w in text for w in pattern_words(check.inside)):
            return False
        if check.scope and not any(all(w in text for w in names_in_glob(g)) for g in check.scope):
            return False
        if check.mentions and not re.search(check.mentions, text):
            return False
        return check.negate or any(all(w in text for w in pattern_words(p)) for p in check.pattern)

    def segment_relevant(self, check, text):
        if check.follow:
            return None   # sub-expressions resolve through the whole module
        # the match lies in one definition, which holds its words (with `negate` too: only a match
        # can fail it); `inside` may enclose more than a definition and `mentions` is tested on the
        # match's own code, so neither narrows here
        if check.scope and not any(all(w in text for w in names_in_glob(g)) for g in check.scope):
            return False
        # a definition is tested word by word: `self.config.$X` keeps no method that only says `app_config`
        return any(all(w in text for w in pattern_words(p)) and has_names(text, pattern_names(p))
                   for p in check.pattern)

    def reads_imports(self, check):
        # a pattern (or the pattern it must lie inside) may be an import statement
        return any(re.search(r"\bimport\b", p) for p in [*check.pattern, check.inside or ""])

    def follows_names(self, check):
        # without `follow` a match is the code of its definition alone; liveness is decided within its
        # function, constants and import aliases at module level
        return bool(check.follow)

    def splits_classes(self, check):
        # a match is evidence with its own lines: a class (whose end would move) or a match under an
        # `inside` pattern (which may need the whole class) keeps classes whole
        return not check.inside and not any(p.lstrip().startswith(("class ", "@")) for p in check.pattern)

    def scan(self, check, module):
        patterns = [compile_pattern(p) for p in check.pattern]
        roots = [module.tree]
        if check.inside:
            roots = [node for node, _ in find_any([compile_pattern(check.inside)], module.tree, module)]
        regex = re.compile(check.mentions) if check.mentions else None
        facts, seen = [], set()
        accept = (lambda node: module.is_inside(node, check.scope)) if check.scope else None
        with resolving(module.resolver() if check.follow else None):
            matches = [node for root in roots for node, _ in find_any(patterns, root, module, accept=accept)]
        for node in matches:
            if id(node) in seen:
                continue
            seen.add(id(node))
            if check.scope and not module.is_inside(node, check.scope):
                continue
            if regex is not None and not regex.search(module.code(node)):
                continue
            if not module.is_live(node):
                continue
            status = FAIL if check.negate else PASS
            facts.append(evidence_for(module, node, status, L(f"`{module.snippet(node, 100)}`")))
        return facts

    def evaluate(self, check, facts, ctx):
        evidence = [to_evidence(f) for f in facts]
        shown = " | ".join(check.pattern)
        if check.negate:
            if evidence:
                return Outcome(FAIL, L(f"found what must not be there: `{shown}` ({len(evidence)}×)",
                                       f"出现了不应存在的 `{shown}`（{len(evidence)} 处）"), evidence)
            return Outcome(PASS, L(f"no `{shown}`", f"没有出现 `{shown}`"))
        if not evidence:
            return Outcome(FAIL, L(f"no match for `{shown}`", f"找不到 `{shown}`"))
        if len(evidence) < check.min_count:
            return Outcome(PARTIAL, L(f"{len(evidence)} match(es) for `{shown}`, expected {check.min_count}",
                                      f"`{shown}` 只有 {len(evidence)} 处，需要 {check.min_count} 处"), evidence)
        more = f" (+{len(evidence) - 1})" if len(evidence) > 1 else ""
        return Outcome(PASS, L(f"{evidence[0].message['en']}{more}", f"{evidence[0].message['zh']}{more}"), evidence)



