"""The program model under every check kind: what a careful reader follows, computed lazily.

* `cfg`: a per-function control-flow graph over libcst statements, with branch edges labelled by
  their condition; "can S run when C holds?" is a reachability question on it.
* `conditions`: what a branch edge implies about a condition (and/or/not, negated comparisons,
  numeric intervals), so `if x > 0:` is read as "x <= 0 does not hold here".
* `dataflow`: reaching definitions of locals, `self.x` and `args.x` access paths, on the CFG.
* `model`: `FunctionModel` (one per analysed function, cached on the parsed module) and the
  `Resolver` that lets patterns match through names and one-line helpers.
* `programs`: a spec's programs (entry files and their import closure inside the tree).

Everything here is static: code is parsed, never imported or run.
"""
