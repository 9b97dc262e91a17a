"""One module per check kind; KINDS maps a spec `kind` to its implementation."""

from leveraudit.checks.assigns_key import AssignsKeyKind
from leveraudit.checks.attribute import AttributeKind
from leveraudit.checks.base import CheckKind, Context, Evidence, Outcome
from leveraudit.checks.branch import BranchKind
from leveraudit.checks.call_kwarg import CallKwargKind
from leveraudit.checks.checked_load import CheckedLoadKind
from leveraudit.checks.cli_option import CliOptionKind
from leveraudit.checks.flows import FlowsKind
from leveraudit.checks.guard import GuardKind
from leveraudit.checks.loop_filter import LoopFilterKind
from leveraudit.checks.param import ParamKind
from leveraudit.checks.pattern import PatternKind
from leveraudit.checks.surface_kinds import ConfigMatchesCliKind, DocsFlagsExistKind, InvocationsValidKind

KINDS: dict[str, CheckKind] = {kind.kind: kind for kind in (
    CliOptionKind(), ParamKind(), AttributeKind(), GuardKind(), AssignsKeyKind(), LoopFilterKind(),
    CallKwargKind(), FlowsKind(), CheckedLoadKind(), BranchKind(), PatternKind(),
    InvocationsValidKind(), ConfigMatchesCliKind(), DocsFlagsExistKind(),
)}

__all__ = ["KINDS", "CheckKind", "Context", "Evidence", "Outcome"]
