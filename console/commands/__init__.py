"""The one public way to change data. Every command: keyword-only arguments, one transaction, one commit,
its audit entry and change-log row in that transaction, and a frozen Changes record back."""

from console.commands.comms import (
    claim_deliveries,
    dismiss_delivery,
    retry_delivery,
    save_template,
    send_due_update,
    send_message,
    settle_deliveries,
    settle_delivery,
)
from console.commands.demo import demo_step, seed_demo
from console.commands.escalation import escalate_now, escalation_tick
from console.commands.mitigation_decide import decide_mitigation, mitigation_tick
from console.commands.mitigations import (
    page_approver,
    request_extension,
    request_mitigation,
    revert_mitigation,
    withdraw_mitigation,
)
from console.commands.rights import load_rights, register_signing_key, revoke_signing_key
from console.commands.overrides import stop_escalation, ungroup_service
from console.commands.policy import load_policy
from console.commands.routing import route_signals
from console.commands.signal_rows import route_pending_signals
from console.commands.incidents import (
    SignalInput,
    acknowledge,
    add_note,
    assign_commander,
    assign_owner,
    attach_signal,
    change_severity,
    change_status,
    open_incident,
    resolve,
    set_next_action,
    take_ownership,
)

__all__ = [
    "SignalInput",
    "acknowledge",
    "add_note",
    "assign_commander",
    "assign_owner",
    "attach_signal",
    "change_severity",
    "change_status",
    "claim_deliveries",
    "decide_mitigation",
    "demo_step",
    "dismiss_delivery",
    "escalate_now",
    "escalation_tick",
    "load_policy",
    "load_rights",
    "mitigation_tick",
    "open_incident",
    "page_approver",
    "register_signing_key",
    "request_extension",
    "request_mitigation",
    "resolve",
    "retry_delivery",
    "revert_mitigation",
    "revoke_signing_key",
    "route_pending_signals",
    "route_signals",
    "save_template",
    "seed_demo",
    "send_due_update",
    "send_message",
    "set_next_action",
    "settle_deliveries",
    "settle_delivery",
    "stop_escalation",
    "take_ownership",
    "ungroup_service",
    "withdraw_mitigation",
]
