from leveraudit.spec.load import SpecError, load_spec, parse_spec
from leveraudit.spec.models import CHECK_KINDS, Check, Constraint, Item, Spec

__all__ = ["CHECK_KINDS", "Check", "Constraint", "Item", "Spec", "SpecError", "load_spec", "parse_spec"]
