"""What a branch edge says about a condition.

An `Assumption` is a conjunction of condition patterns that hold (the spec's `condition`). A
branch test is read as a formula (`and` / `or` / `not` over atoms); each atom is decided under the
assumption in three-valued logic:

* it matches an assumed pattern: true; its negation does (`x > 0` against `x <= 0`): false;
* a numeric comparison of the same left side: decided by intervals (`x <= 0` makes `x >= 1`
  false and `x < 5` true, leaves `x == 0` open);
* a name bound once to a condition (`rce_only = self.epochs <= 0`) or a one-line helper
  (`self._is_rce_only()`) is read through (see `model.Resolver`);
* anything else is unknown.

An edge is infeasible under the assumption when its test is definitely the opposite of the edge's
polarity. Unknown is never infeasible, so a test the reader cannot decide keeps its paths.
"""

from __future__ import annotations

import math

from leveraudit.lazy import cst

from leveraudit.extract.module import literal_value
from leveraudit.extract.pattern import canonical, match, resolving

# by libcst's class names: a warm run never imports libcst (leveraudit/lazy.py)
_SETS = {"LessThan": "<", "LessThanEqual": "<=", "GreaterThan": ">", "GreaterThanEqual": ">=",
         "Equal": "==", "NotEqual": "!="}


def negation(expr: cst.BaseExpression) -> cst.BaseExpression | None:
    """`x <= 0` for `x > 0` (the matcher's own normal form of `not x > 0`); None when the negation
    has no comparison form."""
    if not (isinstance(expr, cst.Comparison) and len(expr.comparisons) == 1):
        return None
    negated = canonical(cst.UnaryOperation(cst.Not(), expr))
    return negated if isinstance(negated, cst.Comparison) else None


def _numeric_comparison(expr: cst.CSTNode) -> tuple[cst.BaseExpression, str, float] | None:
    if isinstance(expr, cst.Comparison) and len(expr.comparisons) == 1:
        expr = canonical(expr)
        target = expr.comparisons[0]
        symbol = _SETS.get(type(target.operator).__name__)
        known, value = literal_value(target.comparator)
        if symbol and known and isinstance(value, (int, float)) and not isinstance(value, bool):
            return expr.left, symbol, float(value)
    return None


def _intervals(symbol: str, c: float) -> list[tuple[float, bool, float, bool]]:
    """The set {x | x <symbol> c} as (low, low_closed, high, high_closed) intervals."""
    inf = math.inf
    return {"<": [(-inf, False, c, False)], "<=": [(-inf, False, c, True)], ">": [(c, False, inf, False)],
            ">=": [(c, True, inf, False)], "==": [(c, True, c, True)],
            "!=": [(-inf, False, c, False), (c, False, inf, False)]}[symbol]


def _meets(a, b) -> bool:
    low = max((a[0], not a[1]), (b[0], not b[1]))  # the larger low end; open beats closed at a tie
    high = min((a[2], a[3]), (b[2], b[3]))
    if low[0] < high[0]:
        return True
    return low[0] == high[0] and not low[1] and high[1]


def _inside(a, b) -> bool:
    low_ok = b[0] < a[0] or (b[0] == a[0] and (b[1] or not a[1]))
    high_ok = a[2] < b[2] or (a[2] == b[2] and (b[3] or not a[3]))
    return low_ok and high_ok


def implies(assumed: tuple[str, float], tested: tuple[str, float]) -> bool | None:
    """Whether `x <assumed>` makes `x <tested>` true (True), false (False) or either (None)."""
    given, test = _intervals(*assumed), _intervals(*tested)
    if all(any(_inside(g, t) for t in test) for g in given):
        return True
    if not any(_meets(g, t) for g in given for t in test):
        return False
    return None


class Assumption:
    """Patterns assumed to hold; a `(pattern, False)` pair is assumed not to hold."""

    def __init__(self, patterns: list, resolver=None) -> None:
        self.patterns: list[tuple[cst.CSTNode, bool]] = []
        for entry in patterns:
            pattern, truth = entry if isinstance(entry, tuple) else (entry, True)
            negated = None if truth else negation(canonical(pattern))
            # `not x <= 0` is assumed as `x >= 1`, so intervals can decide it
            pattern, truth = (negated, True) if negated is not None else (canonical(pattern), truth)
            # `not x` is assumed as "x is false", so the test `x` (and `not x`) is decided
            while isinstance(pattern, cst.UnaryOperation) and isinstance(pattern.operator, cst.Not):
                pattern, truth = pattern.expression, not truth
            self.patterns.append((pattern, truth))
        self.resolver = resolver
        self.numeric = [_numeric_comparison(p) if truth else None for p, truth in self.patterns]
        self._memo: dict[int, bool | None] = {}  # id(test) -> truth; edges and guard sites ask about the same tests

    # -- atoms ------------------------------------------------------------------------------
    def atom(self, expr: cst.BaseExpression) -> bool | None:
        with resolving(self.resolver):
            for (pattern, truth), numeric in zip(self.patterns, self.numeric):
                if match(pattern, expr) is not None:
                    return truth
                negated = negation(expr)
                if negated is not None and match(pattern, negated) is not None:
                    return not truth
                if numeric is not None:
                    tested = _numeric_comparison(expr)
                    if tested is not None and match(numeric[0], tested[0]) is not None:
                        verdict = implies(numeric[1:], tested[1:])
                        if verdict is not None:
                            return verdict
        return None

    def value(self, expr: cst.BaseExpression, depth: int = 0) -> bool | None:
        """Three-valued truth of a test under the assumption."""
        if isinstance(expr, cst.BooleanOperation):
            left, right = self.value(expr.left, depth), self.value(expr.right, depth)
            if isinstance(expr.operator, cst.And):
                if left is False or right is False:
                    return False
                return True if left is True and right is True else None
            if left is True or right is True:
                return True
            return False if left is False and right is False else None
        if isinstance(expr, cst.UnaryOperation) and isinstance(expr.operator, cst.Not):
            inner = self.value(expr.expression, depth)
            return None if inner is None else not inner
        known, constant = literal_value(expr)
        if known and isinstance(constant, (bool, int, float, str)):
            return bool(constant)
        verdict = self.atom(expr)
        if verdict is None and depth < 3 and self.resolver is not None and isinstance(
                expr, (cst.Name, cst.Attribute, cst.Call)):
            readings = {self.value(alternative, depth + 1) for alternative in self.resolver.expand(expr)}
            if len(readings) == 1:
                verdict = readings.pop()
        return verdict

    def truth(self, test: cst.BaseExpression) -> bool | None:
        key = id(test)
        if key not in self._memo:
            self._memo[key] = self.value(test)
        return self._memo[key]

    def feasible(self, test: cst.BaseExpression, polarity: bool) -> bool:
        verdict = self.truth(test)
        return verdict is None or verdict == polarity

    def mentions(self, test: cst.BaseExpression) -> bool:
        """Whether the test decides the assumption at all (a guard site)."""
        return self.truth(test) is not None
