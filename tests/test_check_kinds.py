"""Every check kind on snippets that must pass and snippets that must not (Fixit-style cases)."""

from __future__ import annotations

import pytest

from tests.conftest import run_check

TRAINER_ARGPARSE = """
import argparse
def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rce_epochs", type=int, default=5)
    parser.add_argument("--rce_lr", type=float, default=1e-4)
    parser.add_argument("--grpo_lr", type=float, default={grpo_lr})
    {extra}
    return parser.parse_args()
"""

CASES = [
    # -- cli_option ----------------------------------------------------------------------
    ("cli default equals", {"kind": "cli_option", "dest": "rce_epochs", "default": {"equals": 5}},
     {"t.py": TRAINER_ARGPARSE.format(grpo_lr="1e-5", extra="")}, "pass"),
    ("cli default differs", {"kind": "cli_option", "dest": "rce_epochs", "default": {"equals": 3}},
     {"t.py": TRAINER_ARGPARSE.format(grpo_lr="1e-5", extra="")}, "fail"),
    ("cli lt_option", {"kind": "cli_option", "dest": "grpo_lr", "default": {"le": 3e-5, "lt_option": "rce_lr"}},
     {"t.py": TRAINER_ARGPARSE.format(grpo_lr="1e-5", extra="")}, "pass"),
    ("cli lt_option violated", {"kind": "cli_option", "dest": "grpo_lr", "default": {"lt_option": "rce_lr"}},
     {"t.py": TRAINER_ARGPARSE.format(grpo_lr="1e-3", extra="")}, "fail"),
    ("cli default overridden by set_defaults", {"kind": "cli_option", "dest": "rce_epochs", "default": {"equals": 5}},
     {"t.py": TRAINER_ARGPARSE.format(grpo_lr="1e-5", extra="parser.set_defaults(rce_epochs=1)")}, "fail"),
    ("cli missing option", {"kind": "cli_option", "dest": "grpo_epochs"},
     {"t.py": TRAINER_ARGPARSE.format(grpo_lr="1e-5", extra="")}, "fail"),
    ("cli store_false switch by dest", {"kind": "cli_option", "dest": "skip", "default": {"equals": True}},
     {"t.py": TRAINER_ARGPARSE.format(grpo_lr="1e-5", extra="parser.add_argument('--no_skip', dest='skip', action='store_false')")}, "pass"),
    ("cli literal flag spelling", {"kind": "cli_option", "dest": "skip", "flag": "--skip"},
     {"t.py": TRAINER_ARGPARSE.format(grpo_lr="1e-5", extra="parser.add_argument('--no_skip', dest='skip', action='store_false')")}, "fail"),
    ("cli hyphen flag equals underscore", {"kind": "cli_option", "dest": "skip", "flag": "--skip", "action": "switch"},
     {"t.py": "import typer\ndef train(skip: bool = typer.Option(False, '--skip/--no-skip')):\n    pass\n"}, "pass"),
    ("cli string default converted by type=int", {"kind": "cli_option", "dest": "epochs", "default": {"equals": 5}},
     {"t.py": "import argparse\np = argparse.ArgumentParser()\np.add_argument('--epochs', type=int, default='5')\n"}, "pass"),
    ("cli default reassigned after parse_args", {"kind": "cli_option", "dest": "epochs", "default": {"equals": 3}},
     {"t.py": "import argparse\ndef main():\n    p = argparse.ArgumentParser()\n    p.add_argument('--epochs', type=int)\n"
              "    args = p.parse_args()\n    args.epochs = args.epochs or 3\n"}, "pass"),
    ("cli default filled when None", {"kind": "cli_option", "dest": "epochs", "default": {"equals": 0}},
     {"t.py": "import argparse\ndef main():\n    p = argparse.ArgumentParser()\n    p.add_argument('--epochs', type=int, default=0)\n"
              "    args = p.parse_args()\n    if args.epochs is None:\n        args.epochs = 8\n"}, "pass"),
    ("cli default overwritten after parse_args", {"kind": "cli_option", "dest": "epochs", "default": {"equals": 0}},
     {"t.py": "import argparse\ndef main():\n    p = argparse.ArgumentParser()\n    p.add_argument('--epochs', type=int, default=0)\n"
              "    args = p.parse_args()\n    args.epochs = 8\n"}, "fail"),
    # -- param -----------------------------------------------------------------------------
    ("param with default", {"kind": "param", "function": "DS.__init__", "name": "skip", "default": {"equals": False}},
     {"d.py": "class DS:\n    def __init__(self, data, skip: bool = False):\n        pass\n"}, "pass"),
    ("param keyword-only", {"kind": "param", "function": "DS.__init__", "name": "skip", "annotation": "bool"},
     {"d.py": "class DS:\n    def __init__(self, data, *, skip: bool = True):\n        pass\n"}, "pass"),
    ("param wrong default", {"kind": "param", "function": "DS.__init__", "name": "skip", "default": {"equals": False}},
     {"d.py": "class DS:\n    def __init__(self, data, skip=True):\n        pass\n"}, "fail"),
    ("param on another method only", {"kind": "param", "function": "DS.__init__", "name": "skip"},
     {"d.py": "class DS:\n    def __init__(self, data):\n        pass\n    def load(self, skip=False):\n        pass\n"}, "fail"),
    ("param of nested function", {"kind": "param", "function": "outer.inner", "name": "k"},
     {"d.py": "def outer():\n    def inner(k=1):\n        return k\n    return inner\n"}, "pass"),
    # -- attribute -------------------------------------------------------------------------
    ("attribute in __init__", {"kind": "attribute", "class": "Trainer", "name": "raw", "default": {"equals": False}},
     {"t.py": "class Trainer:\n    def __init__(self):\n        self.raw = False\n"}, "pass"),
    ("attribute dataclass field", {"kind": "attribute", "class": ["Trainer", "*Config"], "name": "raw", "default": {"equals": False}},
     {"t.py": "from dataclasses import dataclass, field\n@dataclass\nclass TrainerConfig:\n    raw: bool = field(default=False)\n"}, "pass"),
    ("attribute pydantic field", {"kind": "attribute", "class": "Cfg", "name": "raw", "default": {"equals": True}},
     {"t.py": "from pydantic import BaseModel, Field\nclass Cfg(BaseModel):\n    raw: bool = Field(True, description='x')\n"}, "pass"),
    ("attribute only a local", {"kind": "attribute", "class": "Trainer", "name": "raw"},
     {"t.py": "class Trainer:\n    def run(self):\n        raw = False\n        return raw\n"}, "fail"),
    # -- guard -----------------------------------------------------------------------------
    ("guard before loop", {"kind": "guard", "inside": "T.train", "condition": "$S.n <= 0", "exits": ["return"],
                            "before": ["for $E in range(..., $S.n): ..."]},
     {"t.py": "class T:\n    def train(self):\n        warmup()\n        if self.n < 1:\n            print('skip')\n            return\n"
              "        for e in range(self.n):\n            step()\n"}, "pass"),
    ("guard after the loop", {"kind": "guard", "inside": "T.train", "condition": "$S.n <= 0", "exits": ["return"],
                               "before": ["for $E in range(..., $S.n): ..."]},
     {"t.py": "class T:\n    def train(self):\n        for e in range(self.n):\n            step()\n        if self.n <= 0:\n            return\n"}, "fail"),
    ("guard inside the loop", {"kind": "guard", "inside": "T.train", "condition": "$S.n <= 0", "exits": ["return"],
                                "before": ["for $E in range(..., $S.n): ..."]},
     {"t.py": "class T:\n    def train(self):\n        for e in range(self.n):\n            if self.n <= 0:\n                return\n"}, "fail"),
    ("guard that does not exit", {"kind": "guard", "inside": "T.train", "condition": "$S.n <= 0",
                                   "before": ["for $E in range(..., $S.n): ..."]},
     {"t.py": "class T:\n    def train(self):\n        if self.n <= 0:\n            print('no')\n        for e in range(self.n):\n            pass\n"}, "fail"),
    ("guard as a disjunct", {"kind": "guard", "inside": "T.train", "condition": "$S.n <= 0",
                              "before": ["for $E in range(..., $S.n): ..."]},
     {"t.py": "class T:\n    def train(self):\n        if self.dry or 0 >= self.n:\n            return\n        for e in range(self.n):\n            pass\n"}, "pass"),
    ("guard in a nested function does not guard the outer loop", {"kind": "guard", "inside": "T.train", "condition": "$S.n <= 0",
                                                                   "before": ["for $E in range(..., $S.n): ..."]},
     {"t.py": "class T:\n    def train(self):\n        def check():\n            if self.n <= 0:\n                return\n"
              "        for e in range(self.n):\n            pass\n"}, "fail"),
    # guards read through control flow: else branches, negations, locals, helpers, `after`
    ("guard as the else of the condition", {"kind": "guard", "inside": "T.train", "condition": "$S.n <= 0", "exits": ["return"], "before": ["for $E in range(..., $S.n): ..."]},
     {"t.py": "class T:\n    def train(self):\n        if self.n <= 0:\n            print('rce only')\n        else:\n"
              "            for e in range(self.n):\n                step()\n"}, "pass"),
    ("guard by the negated condition", {"kind": "guard", "inside": "T.train", "condition": "$S.n <= 0", "exits": ["return"], "before": ["for $E in range(..., $S.n): ..."]},
     {"t.py": "class T:\n    def train(self):\n        if self.n > 0:\n            for e in range(self.n):\n                step()\n"}, "pass"),
    ("guard on a local holding the condition", {"kind": "guard", "inside": "T.train", "condition": "$S.n <= 0", "exits": ["return"], "before": ["for $E in range(..., $S.n): ..."]},
     {"t.py": "class T:\n    def train(self):\n        rce_only = self.n <= 0\n        if rce_only:\n            return\n"
              "        for e in range(self.n):\n            step()\n"}, "pass"),
    ("guard in a one-line helper", {"kind": "guard", "inside": "T.train", "condition": "$S.n <= 0", "exits": ["return"], "before": ["for $E in range(..., $S.n): ..."]},
     {"t.py": "class T:\n    def _rce_only(self):\n        return self.n <= 0\n    def train(self):\n"
              "        if self._rce_only():\n            return\n        for e in range(self.n):\n            step()\n"}, "pass"),
    ("guard on a weaker condition does not guard", {"kind": "guard", "inside": "T.train", "condition": "$S.n <= 0", "exits": ["return"], "before": ["for $E in range(..., $S.n): ..."]},
     {"t.py": "class T:\n    def train(self):\n        if self.n < 0:\n            return\n        for e in range(self.n):\n            step()\n"}, "fail"),
    ("guard that always returns", {"kind": "guard", "inside": "T.train", "condition": "$S.n <= 0", "exits": ["return"], "before": ["for $E in range(..., $S.n): ..."]},
     {"t.py": "class T:\n    def train(self):\n        if self.n <= 0 or True:\n            return\n        for e in range(self.n):\n            step()\n"}, "fail"),
    ("guard after the warm-up", {"kind": "guard", "inside": "T.train", "condition": "$S.n <= 0", "exits": ["return"], "before": ["for $E in range(..., $S.n): ..."], "after": ["for $E in range($S.w): ..."]},
     {"t.py": "class T:\n    def train(self):\n        for e in range(self.w):\n            warm()\n        if self.n <= 0:\n            return\n"
              "        for e in range(self.n):\n            step()\n"}, "pass"),
    ("guard before the warm-up skips it too", {"kind": "guard", "inside": "T.train", "condition": "$S.n <= 0", "exits": ["return"], "before": ["for $E in range(..., $S.n): ..."], "after": ["for $E in range($S.w): ..."]},
     {"t.py": "class T:\n    def train(self):\n        if self.n <= 0:\n            return\n        for e in range(self.w):\n            warm()\n"
              "        for e in range(self.n):\n            step()\n"}, "fail"),
    ("guard defeated by a reassignment before the loop", {"kind": "guard", "inside": "T.train", "condition": "$S.n <= 0", "exits": ["return"], "before": ["for $E in range(..., $S.n): ..."]},
     {"t.py": "class T:\n    def train(self):\n        if self.n <= 0:\n            return\n        self.n = 3\n        for e in range(self.n):\n            step()\n"}, "fail"),
    # a condition that is a negation (`not self.batches`) is assumed as "self.batches is false"
    ("guard on a negated name", {"kind": "guard", "inside": "T.fit", "condition": "not $S.batches", "exits": ["raise"], "before": ["for $E in range(..., $S.n): ..."]},
     {"t.py": "class T:\n    def fit(self):\n        if not self.batches:\n            raise ValueError('empty')\n"
              "        for e in range(self.n):\n            step()\n"}, "pass"),
    ("guard on a negated name, as the else of the name", {"kind": "guard", "inside": "T.fit", "condition": "not $S.batches", "exits": ["return"], "before": ["for $E in range(..., $S.n): ..."]},
     {"t.py": "class T:\n    def fit(self):\n        if self.batches:\n            for e in range(self.n):\n                step()\n"}, "pass"),
    ("guard on a negated name after the loop", {"kind": "guard", "inside": "T.fit", "condition": "not $S.batches", "exits": ["raise"], "before": ["for $E in range(..., $S.n): ..."]},
     {"t.py": "class T:\n    def fit(self):\n        for e in range(self.n):\n            step()\n"
              "        if not self.batches:\n            raise ValueError('empty')\n"}, "fail"),
    # -- assigns_key -------------------------------------------------------------------------
    ("assigns_key subscript ifexp", {"kind": "assigns_key", "key": "mode", "values": ["file", "fallback"]},
     {"g.py": "def g(c, used):\n    c['mode'] = 'file' if used else 'fallback'\n"}, "pass"),
    ("assigns_key model keyword", {"kind": "assigns_key", "key": "mode", "values": ["file", "fallback"]},
     {"g.py": "def g(s):\n    return Candidate(pointer=[1, 2], mode=s.mode)\n"}, "pass"),
    ("assigns_key dict(k=v)", {"kind": "assigns_key", "key": "mode"},
     {"g.py": "def g():\n    return dict(mode='file')\n"}, "pass"),
    ("assigns_key disallowed value", {"kind": "assigns_key", "key": "mode", "values": ["file", "fallback"]},
     {"g.py": "def g(c):\n    c['mode'] = 'vqaEval'\n"}, "fail"),
    ("assigns_key only read", {"kind": "assigns_key", "key": "mode"},
     {"g.py": "def g(c):\n    return c['mode'] == 'file'\n"}, "fail"),
    ("assigns_key on one path only", {"kind": "assigns_key", "key": "mode"},
     {"g.py": "def g(cands):\n    for c in cands:\n        try:\n            c['score'] = run(c)\n        except ValueError:\n"
              "            c['mode'] = 'fallback'\n"}, "partial"),
    ("assigns_key after the try on every path", {"kind": "assigns_key", "key": "mode"},
     {"g.py": "def g(cands):\n    for c in cands:\n        try:\n            ok = run(c)\n        except ValueError:\n"
              "            ok = False\n        c['mode'] = 'file' if ok else 'fallback'\n"}, "pass"),
    ("assigns_key derived with the right polarity through a local", {"kind": "assigns_key", "key": "mode",
        "derived_from": {"condition": "used", "then": "file", "else": "fallback"}},
     {"g.py": "def g(c, used):\n    mode = 'fallback' if not used else 'file'\n    c['mode'] = mode\n"}, "pass"),
    ("assigns_key arms swapped", {"kind": "assigns_key", "key": "mode",
        "derived_from": {"condition": "used", "then": "file", "else": "fallback"}},
     {"g.py": "def g(c, used):\n    c['mode'] = 'fallback' if used else 'file'\n"}, "fail"),
    ("assigns_key derived by an enclosing if", {"kind": "assigns_key", "key": "mode",
        "derived_from": {"condition": "used", "then": "file", "else": "fallback"}},
     {"g.py": "def g(c, used):\n    if used:\n        c['mode'] = 'file'\n    else:\n        c['mode'] = 'fallback'\n"}, "pass"),
    ("assigns_key constant whatever the condition", {"kind": "assigns_key", "key": "mode",
        "derived_from": {"condition": "used", "then": "file", "else": "fallback"}},
     {"g.py": "def g(c, used):\n    c['mode'] = 'file'\n"}, "fail"),
    # -- loop_filter ---------------------------------------------------------------------------
    ("loop_filter and-condition", {"kind": "loop_filter", "inside": "DS", "condition": ["$S.skip", "$C['mode'] == 'fallback'"]},
     {"d.py": "class DS:\n    def __init__(self, cands, skip=False):\n        self.skip = skip\n        for c in cands:\n"
              "            if self.skip and c.get('mode') == 'fallback':\n                continue\n            use(c)\n"}, "pass"),
    ("loop_filter nested ifs and attribute reads", {"kind": "loop_filter", "inside": "DS", "condition": ["$S.skip", "$C['mode'] == 'fallback'"]},
     {"d.py": "class DS:\n    def build(self, cands):\n        for c in cands:\n            if self.skip:\n"
              "                if c.mode == 'fallback':\n                    continue\n"}, "pass"),
    ("loop_filter missing the switch", {"kind": "loop_filter", "inside": "DS", "condition": ["$S.skip", "$C['mode'] == 'fallback'"]},
     {"d.py": "class DS:\n    def build(self, cands):\n        for c in cands:\n            if c['mode'] == 'fallback':\n                continue\n"}, "fail"),
    ("loop_filter that does not skip", {"kind": "loop_filter", "inside": "DS", "condition": ["$S.skip"]},
     {"d.py": "class DS:\n    def build(self, cands):\n        for c in cands:\n            if self.skip:\n                log(c)\n"}, "fail"),
    ("loop_filter through a local and a reversed comparison", {"kind": "loop_filter", "inside": "DS", "condition": ["$S.skip", "$C['mode'] == 'fallback'"], "before": ["$L.append(...)"]},
     {"d.py": "class DS:\n    def build(self, cands, out):\n        for c in cands:\n            mode = c.get('mode')\n"
              "            if self.skip and 'fallback' == mode:\n                continue\n            out.append(c)\n"}, "pass"),
    ("loop_filter as the negated form", {"kind": "loop_filter", "inside": "DS", "condition": ["$S.skip", "$C['mode'] == 'fallback'"], "before": ["$L.append(...)"]},
     {"d.py": "class DS:\n    def build(self, cands, out):\n        for c in cands:\n            if not (self.skip and c.mode == 'fallback'):\n"
              "                out.append(c)\n"}, "pass"),
    ("loop_filter in a one-line helper", {"kind": "loop_filter", "inside": "DS", "condition": ["$S.skip", "$C['mode'] == 'fallback'"], "before": ["$L.append(...)"]},
     {"d.py": "def _is_fallback(c):\n    return c['mode'] == 'fallback'\nclass DS:\n    def build(self, cands, out):\n        for c in cands:\n"
              "            if self.skip and _is_fallback(c):\n                continue\n            out.append(c)\n"}, "pass"),
    ("loop_filter after the append", {"kind": "loop_filter", "inside": "DS", "condition": ["$S.skip", "$C['mode'] == 'fallback'"], "before": ["$L.append(...)"]},
     {"d.py": "class DS:\n    def build(self, cands, out):\n        for c in cands:\n            out.append(c)\n"
              "            if self.skip and c.mode == 'fallback':\n                continue\n"}, "fail"),
    ("loop_filter in an inner loop", {"kind": "loop_filter", "inside": "DS", "condition": ["$S.skip", "$C['mode'] == 'fallback'"], "before": ["$L.append(...)"]},
     {"d.py": "class DS:\n    def build(self, cands, out):\n        for c in cands:\n            for p in c.parts:\n"
              "                if self.skip and c.mode == 'fallback':\n                    continue\n            out.append(c)\n"}, "fail"),
    ("loop_filter that ignores the switch", {"kind": "loop_filter", "inside": "DS", "condition": ["$S.skip", "$C['mode'] == 'fallback'"], "before": ["$L.append(...)"]},
     {"d.py": "class DS:\n    def build(self, cands, out):\n        for c in cands:\n            if self.skip or c.mode == 'fallback':\n"
              "                continue\n            out.append(c)\n"}, "fail"),
    # -- call_kwarg ----------------------------------------------------------------------------
    ("call_kwarg both calls through an alias", {"kind": "call_kwarg", "callee": "RLDS", "keyword": "skip", "value": "$A.skip", "min_count": 2},
     {"ds.py": "class RLDS:\n    pass\n",
      "t.py": "from ds import RLDS as D\ndef main(args):\n    a = D(1, skip=args.skip)\n    b = D(2, skip=args.skip)\n"}, "pass"),
    ("call_kwarg passed to one of two calls", {"kind": "call_kwarg", "callee": "RLDS", "keyword": "skip", "min_count": 2},
     {"t.py": "import ds as m\ndef main(args):\n    a = m.RLDS(1, skip=args.skip)\n    b = m.RLDS(2)\n"}, "partial"),
    ("call_kwarg wrong value", {"kind": "call_kwarg", "callee": "RLDS", "keyword": "skip", "value": "$A.skip"},
     {"t.py": "def main(args):\n    a = RLDS(1, skip=True)\n"}, "fail"),
    ("call_kwarg too few calls", {"kind": "call_kwarg", "callee": "RLDS", "keyword": "skip", "min_count": 2},
     {"t.py": "def main(args):\n    a = RLDS(1, skip=args.skip)\n"}, "partial"),
    ("call_kwarg no calls is not vacuous", {"kind": "call_kwarg", "callee": "RLDS", "keyword": "skip"},
     {"t.py": "class RLDS:\n    pass\n"}, "fail"),
    ("call_kwarg **kwargs is not verifiable", {"kind": "call_kwarg", "callee": "RLDS", "keyword": "skip"},
     {"t.py": "def main(kw):\n    a = RLDS(1, **kw)\n"}, "fail"),
    ("call_kwarg value through a local", {"kind": "call_kwarg", "callee": "RLDS", "keyword": "skip", "value": "$A.skip"},
     {"t.py": "def main(args):\n    skip = args.skip\n    a = RLDS(1, skip=skip)\n"}, "pass"),
    ("call_kwarg value overwritten before the call", {"kind": "call_kwarg", "callee": "RLDS", "keyword": "skip", "value": "$A.skip"},
     {"t.py": "def main(args):\n    args.skip = False\n    a = RLDS(1, skip=args.skip)\n"}, "fail"),
    ("call_kwarg in dead code does not count", {"kind": "call_kwarg", "callee": "RLDS", "keyword": "skip", "min_count": 2},
     {"t.py": "def main(args):\n    a = RLDS(1, skip=args.skip)\n    if False:\n        b = RLDS(2, skip=args.skip)\n"}, "partial"),
    # -- flows ---------------------------------------------------------------------------------
    ("flows attribute assignment", {"kind": "flows", "option": "freeze", "to": "freeze"},
     {"t.py": TRAINER_ARGPARSE.format(grpo_lr="1e-5", extra="parser.add_argument('--freeze', action='store_true')")
              + "def run(args, trainer):\n    trainer.freeze = args.freeze\n"}, "pass"),
    ("flows keyword into a constructor", {"kind": "flows", "option": "freeze", "to": "freeze_backbone"},
     {"t.py": "import typer\ndef train(freeze: bool = typer.Option(False)):\n    cfg = Config(freeze_backbone=freeze)\n"}, "pass"),
    ("flows only a constant", {"kind": "flows", "option": "freeze", "to": "freeze"},
     {"t.py": TRAINER_ARGPARSE.format(grpo_lr="1e-5", extra="parser.add_argument('--freeze', action='store_true')")
              + "def run(args, trainer):\n    trainer.freeze = False\n"}, "fail"),
    ("flows without the option", {"kind": "flows", "option": "freeze", "to": "freeze"},
     {"t.py": "def run(args, trainer):\n    trainer.freeze = args.freeze\n"}, "fail"),
    ("flows through a local", {"kind": "flows", "option": "freeze", "to": "freeze"},
     {"t.py": TRAINER_ARGPARSE.format(grpo_lr="1e-5", extra="parser.add_argument('--freeze', action='store_true')")
              + "def run(args, trainer):\n    f = args.freeze\n    trainer.freeze = f\n    trainer.train()\n"}, "pass"),
    ("flows overwritten before the trainer runs", {"kind": "flows", "option": "freeze", "to": "freeze"},
     {"t.py": TRAINER_ARGPARSE.format(grpo_lr="1e-5", extra="parser.add_argument('--freeze', action='store_true')")
              + "def run(args, trainer):\n    trainer.freeze = args.freeze\n    trainer.freeze = False\n    trainer.train()\n"}, "fail"),
    ("flows used before it is overwritten", {"kind": "flows", "option": "freeze", "to": "freeze"},
     {"t.py": TRAINER_ARGPARSE.format(grpo_lr="1e-5", extra="parser.add_argument('--freeze', action='store_true')")
              + "def run(args, trainer):\n    trainer.freeze = args.freeze\n    trainer.train()\n    trainer.freeze = False\n"}, "pass"),
    # -- checked_load ----------------------------------------------------------------------------
    ("checked_load tuple result", {"kind": "checked_load", "inside": "load_sft"},
     {"l.py": "def load_sft(model, sd):\n    missing, unexpected = model.load_state_dict(sd, strict=False)\n"
              "    if missing:\n        print('missing', missing)\n    if unexpected:\n        print('unexpected', unexpected)\n"
              "    if len(missing) > 0:\n        raise RuntimeError('mismatch')\n"}, "pass"),
    ("checked_load result object and derived fraction", {"kind": "checked_load", "inside": "load_sft"},
     {"l.py": "import logging\nlog = logging.getLogger()\ndef load_sft(model, sd, allowed):\n"
              "    result = model.load_state_dict(sd, strict=False)\n    log.warning('missing %s unexpected %s', result.missing_keys, result.unexpected_keys)\n"
              "    fraction = len(result.missing_keys) / 9\n    if fraction > allowed:\n        raise ValueError(fraction)\n"}, "pass"),
    ("checked_load strict load", {"kind": "checked_load", "inside": "load_sft"},
     {"l.py": "def load_sft(model, sd):\n    model.load_state_dict(sd)\n"}, "pass"),
    ("checked_load discarded result", {"kind": "checked_load", "inside": "load_sft"},
     {"l.py": "def load_sft(model, sd):\n    model.load_state_dict(sd, strict=False)\n"}, "fail"),
    ("checked_load warn only", {"kind": "checked_load", "inside": "load_sft"},
     {"l.py": "def load_sft(model, sd):\n    missing, unexpected = model.load_state_dict(sd, strict=False)\n"
              "    print(missing, unexpected)\n"}, "fail"),
    ("checked_load one of two loads unchecked", {"kind": "checked_load", "inside": ["load_sft"], "mentions": ["sft_ckpt"]},
     {"l.py": "def load_sft(model, sd):\n    missing, unexpected = model.load_state_dict(sd, strict=False)\n"
              "    print(missing, unexpected)\n    if missing:\n        raise RuntimeError(missing)\n"
              "def main(args, model, sd):\n    if args.sft_ckpt:\n        model.load_state_dict(sd, strict=False)\n"
              "def infer(model, sd):\n    model.load_state_dict(sd, strict=False)\n"}, "partial"),
    ("checked_load min_count not met", {"kind": "checked_load", "inside": "load_sft", "min_count": 2},
     {"l.py": "def load_sft(model, sd):\n    model.load_state_dict(sd)\n"}, "partial"),
    ("checked_load ignores a live-module copy", {"kind": "checked_load", "inside": "T.*"},
     {"t.py": "import torch\nclass T:\n    def load(self, path):\n        self.m.load_state_dict(torch.load(path, weights_only=True), strict=False)\n"
              "    def ref(self):\n        self.r.load_state_dict(self.m.state_dict(), strict=False)\n"}, "fail"),
    ("checked_load a live-module copy is not a load to pass", {"kind": "checked_load", "inside": "T.*"},
     {"t.py": "class T:\n    def ref(self):\n        snapshot = self.m.state_dict()\n        self.r.load_state_dict(snapshot)\n"}, "fail"),
    # a state that may come from a live module or from a file is a load (a strict one passes), whichever
    # source the data flow meets first
    ("checked_load a state from a module or a file is a load", {"kind": "checked_load", "inside": "T.*"},
     {"t.py": "import torch\nclass T:\n    def ref(self, path, fresh):\n"
              "        sd = self.m.state_dict() if fresh else torch.load(path, weights_only=True)\n"
              "        self.r.load_state_dict(sd)\n"}, "pass"),
    ("checked_load a state from a file or a module is a load", {"kind": "checked_load", "inside": "T.*"},
     {"t.py": "import torch\nclass T:\n    def ref(self, path, fresh):\n        sd = self.m.state_dict()\n"
              "        if not fresh:\n            sd = torch.load(path, weights_only=True)\n"
              "        self.r.load_state_dict(sd)\n"}, "pass"),
    # -- branch -----------------------------------------------------------------------------------
    ("branch statement form", {"kind": "branch", "condition": "$T.raw", "then": "$B['r_raw']", "else": "$B['r']"},
     {"t.py": "def f(self, batch):\n    if self.raw:\n        r = batch['r_raw'].to(d)\n    else:\n        r = batch['r'].to(d)\n"}, "pass"),
    ("branch expression form with attributes", {"kind": "branch", "condition": "$T.raw", "then": "$B['r_raw']", "else": "$B['r']"},
     {"t.py": "def f(cfg, batch):\n    return batch.r if not cfg.raw else batch.r_raw\n"}, "pass"),
    ("branch arms swapped", {"kind": "branch", "condition": "$T.raw", "then": "$B['r_raw']", "else": "$B['r']"},
     {"t.py": "def f(self, batch):\n    r = batch['r'] if self.raw else batch['r_raw']\n"}, "fail"),
    ("branch condition and arms through locals, used by the loss", {"kind": "branch", "condition": "$T.raw", "then": "$B['r_raw']",
                                                                  "else": "$B['r']", "used_by": ["*loss"]},
     {"t.py": "def f(self, batch):\n    use_raw = self.cfg.raw\n    raw = batch['r_raw'].to(self.device)\n"
              "    r = raw if use_raw else batch['r']\n    return self.loss(batch, r)\n"}, "pass"),
    ("branch computed but not used", {"kind": "branch", "condition": "$T.raw", "then": "$B['r_raw']", "else": "$B['r']",
                                      "used_by": ["*loss"]},
     {"t.py": "def f(self, batch):\n    if self.raw:\n        r = batch['r_raw']\n    else:\n        r = batch['r']\n"
              "    return self.loss(batch, batch['r'])\n"}, "fail"),
    # -- pattern ------------------------------------------------------------------------------------
    ("pattern inside", {"kind": "pattern", "pattern": ["$P.requires_grad = False"], "inside": "if $T.freeze: ..."},
     {"t.py": "def f(self):\n    if self.freeze:\n        for p in self.m.parameters():\n            p.requires_grad = False\n"}, "pass"),
    ("pattern outside the scope", {"kind": "pattern", "pattern": ["$P.requires_grad = False"], "inside": "if $T.freeze: ..."},
     {"t.py": "def f(self):\n    for p in self.m.parameters():\n        p.requires_grad = False\n"}, "fail"),
    ("pattern negated, absent", {"kind": "pattern", "pattern": ["'query_proj'"], "negate": True},
     {"t.py": "NAMES = ['input_proj']\n"}, "pass"),
    ("pattern negated, present", {"kind": "pattern", "pattern": ["'query_proj'"], "negate": True},
     {"t.py": "NAMES = ['input_proj', \"query_proj\"]\n"}, "fail"),
    ("pattern mentions", {"kind": "pattern", "pattern": ["print(...)"], "mentions": "fallback_count"},
     {"t.py": "print('hello')\nprint(f'{fallback_count} fallbacks')\n"}, "pass"),
    # -- config surface ---------------------------------------------------------------------------
    ("invocations_valid flags exist", {"kind": "invocations_valid"},
     {"train.py": TRAINER_ARGPARSE.format(grpo_lr="1e-5", extra=""),
      "run.sh": "python train.py \\\n  --rce_epochs 5 --rce_lr 1e-4\n"}, "pass"),
    ("invocations_valid unknown flag", {"kind": "invocations_valid"},
     {"train.py": TRAINER_ARGPARSE.format(grpo_lr="1e-5", extra=""), "run.sh": "python train.py --rce_epoch 5\n"}, "pass"),
    ("invocations_valid misspelt flag", {"kind": "invocations_valid"},
     {"train.py": TRAINER_ARGPARSE.format(grpo_lr="1e-5", extra=""), "run.sh": "python train.py --rce-epochs 5\n"}, "fail"),
    ("invocations_valid pinned default overridden", {"kind": "invocations_valid", "pinned": {"rce_epochs": {"equals": 5}}},
     {"train.py": TRAINER_ARGPARSE.format(grpo_lr="1e-5", extra=""), "docs/use.md": "```bash\npython train.py --rce_epochs 1\n```\n"}, "fail"),
    ("config_matches_cli agrees", {"kind": "config_matches_cli"},
     {"train.py": TRAINER_ARGPARSE.format(grpo_lr="1e-5", extra=""), "cfg.yaml": "rce_epochs: 5\nname: x\n"}, "pass"),
    ("config_matches_cli stale yaml", {"kind": "config_matches_cli"},
     {"train.py": TRAINER_ARGPARSE.format(grpo_lr="1e-5", extra=""), "cfg.yaml": "rce_epochs: 1\n"}, "fail"),
    ("docs_flags_exist", {"kind": "docs_flags_exist"},
     {"train.py": TRAINER_ARGPARSE.format(grpo_lr="1e-5", extra=""), "README.md": "Pass `--rce_epochs 5`.\n"}, "pass"),
    ("docs_flags_exist documents a missing flag", {"kind": "docs_flags_exist"},
     {"train.py": TRAINER_ARGPARSE.format(grpo_lr="1e-5", extra=""), "README.md": "Pass `--rce_epoch_count 5`.\n"}, "fail"),
]


@pytest.mark.parametrize("name,check,files,expected", CASES, ids=[c[0] for c in CASES])
def test_check_kind(tmp_path, name, check, files, expected):
    result = run_check(tmp_path, check, files)
    assert result.status == expected, (result.message, [e.message for e in result.evidence])


def test_every_kind_has_passing_and_failing_cases():
    from leveraudit.spec import CHECK_KINDS
    outcomes = {}
    for _, check, _, expected in CASES:
        outcomes.setdefault(check["kind"], set()).add("pass" if expected == "pass" else "not pass")
    assert {k: v for k, v in outcomes.items() if v == {"pass", "not pass"}}.keys() == CHECK_KINDS.keys()


def test_evidence_has_exact_lines(tmp_path):
    result = run_check(tmp_path, {"kind": "call_kwarg", "callee": "RLDS", "keyword": "skip"},
                       {"t.py": "def main(args):\n\n    a = RLDS(1,\n             skip=args.skip)\n    b = RLDS(2)\n"})
    assert [(e.path, e.line, e.status) for e in result.evidence] == [("t.py", 4, "pass"), ("t.py", 5, "fail")]
