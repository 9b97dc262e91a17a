"""leveraudit: a spec-driven, static consistency auditor.

It reads a YAML spec of a plan's requirements, parses the audited code with libcst (never
importing, executing or evaluating it) and reports, per requirement, ✅ / ⚠️ / ❌ with evidence.
"""

__version__ = "0.1.0"
