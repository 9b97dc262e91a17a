"""`leveraudit init --from-plan`: draft a spec from the plan document itself.

`outline` reads the Markdown into numbered sections (markdown-it-py), `fences` parses the plan's
Python blocks with libcst while tolerating pseudo-code, `draft` maps what the plan states (code
shapes, location hints, flags and values in prose) to checks, and `writer` renders YAML a person
can review: every check cites its plan line, low-confidence ones carry `# review:`, and what
produced no check is listed rather than dropped.
"""

from leveraudit.plan.draft import Draft, PlanError, draft_from_plan
from leveraudit.plan.writer import render_draft

__all__ = ["Draft", "PlanError", "draft_from_plan", "render_draft"]
