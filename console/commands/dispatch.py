"""Commands as data: a request names a command and its arguments, so it can wait in the outbox on disk and be
replayed later, exactly once, under its idempotency key."""
from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

from console.changes import Changes
from console.commands import comms, incidents, mitigation_decide, mitigations, overrides, rights
from console.commands.escalation import escalate_now
from console.errors import (
    AlreadyApplied,
    Conflict,
    InvalidInput,
    InvalidTransition,
    NotFound,
)
from console.uow import UnitOfWork

COMMANDS: dict[str, Callable[..., Changes]] = {
    "open_incident": incidents.open_incident,
    "acknowledge": incidents.acknowledge,
    "take_ownership": incidents.take_ownership,
    "assign_owner": incidents.assign_owner,
    "assign_commander": incidents.assign_commander,
    "change_severity": incidents.change_severity,
    "change_status": incidents.change_status,
    "add_note": incidents.add_note,
    "set_next_action": incidents.set_next_action,
    "resolve": incidents.resolve,
    "escalate_now": escalate_now,
    "ungroup_service": overrides.ungroup_service,
    "stop_escalation": overrides.stop_escalation,
    "send_message": comms.send_message,
    "send_due_update": comms.send_due_update,
    "retry_delivery": comms.retry_delivery,
    "dismiss_delivery": comms.dismiss_delivery,
    "save_template": comms.save_template,
    "request_mitigation": mitigations.request_mitigation,
    "withdraw_mitigation": mitigations.withdraw_mitigation,
    "request_extension": mitigations.request_extension,
    "revert_mitigation": mitigations.revert_mitigation,
    "page_approver": mitigations.page_approver,
    "decide_mitigation": mitigation_decide.decide_mitigation,
    "register_signing_key": rights.register_signing_key,
}


@dataclass(frozen=True)
class CommandRequest:
    """One operator action, as data: what to run, with what, and what the operator saw when they asked."""

    command: str
    args: Mapping[str, Any]
    label: str
    incident_id: int | None = None
    # The incident as the operator saw it (version, severity, status, owner): to show what changed meanwhile.
    seen: Mapping[str, Any] = field(default_factory=dict)
    key: str = field(default_factory=lambda: uuid.uuid4().hex)

    def __post_init__(self) -> None:
        if self.command not in COMMANDS:
            raise InvalidInput(f"unknown command {self.command!r}; known: {', '.join(sorted(COMMANDS))}")

    def to_json(self) -> dict[str, Any]:
        """Return the request as JSON-ready data."""
        return {"command": self.command, "args": _plain(dict(self.args)), "label": self.label,
                "incident_id": self.incident_id, "seen": _plain(dict(self.seen)), "key": self.key}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CommandRequest:
        """Rebuild a request read back from the outbox."""
        return cls(command=data["command"], args=dict(data["args"]), label=data["label"],
                   incident_id=data.get("incident_id"), seen=dict(data.get("seen") or {}), key=data["key"])

    def on_version(self, version: int) -> CommandRequest:
        """Return the same action aimed at the incident's current version (the operator chose to redo it)."""
        return replace(self, args={**self.args, "expected_version": version})


def _plain(value: Any) -> Any:
    if isinstance(value, StrEnum):
        return value.value
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def run_request(uow: UnitOfWork, *, request: CommandRequest) -> Changes:
    """Run a request once: a second run with the same key raises AlreadyApplied."""
    return COMMANDS[request.command](uow, idempotency_key=request.key, **request.args)


class Outcome(StrEnum):
    APPLIED = "applied"
    ALREADY_APPLIED = "already_applied"
    NEEDS_DECISION = "needs_decision"


@dataclass(frozen=True)
class ReplayResult:
    outcome: Outcome
    changes: Changes = field(default_factory=Changes)
    reason: str = ""


def replay(uow: UnitOfWork, *, request: CommandRequest) -> ReplayResult:
    """Replay a kept action: apply it, notice it was applied already, or say why it no longer applies.

    A lost connection (DatabaseUnavailable) is raised: the action stays in the outbox for the next attempt.
    """
    try:
        return ReplayResult(Outcome.APPLIED, run_request(uow, request=request))
    except AlreadyApplied as done:
        return ReplayResult(Outcome.ALREADY_APPLIED, Changes(versions=done.versions))
    except (Conflict, InvalidTransition, InvalidInput, NotFound) as error:
        # Not forced through: the incident moved on since the operator acted; they decide.
        return ReplayResult(Outcome.NEEDS_DECISION, reason=str(error))
