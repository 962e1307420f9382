"""Who may decide an ask, in one place: the command enforces it, and the sign-off asks it before a leader types
their passphrase, so both say the same words."""
from __future__ import annotations

import json

from console.errors import ConsoleError, InvalidTransition, NotPermitted
from console.mitigations.rights_store import NO_RIGHTS
from console.mitigations.signed import mitigation_ref
from console.routing.rights import RightsPolicy
from models.enums import AskState
from models.incident import Incident
from models.mitigation import Mitigation, MitigationAsk


def refusal(*, ask: MitigationAsk, mitigation: Mitigation, incident: Incident, leader_id: int, leader_handle: str,
            rights: RightsPolicy | None) -> ConsoleError | None:
    """Return the error that stops this leader deciding this ask (state, four eyes, rights), or None."""
    ref = mitigation_ref(mitigation.id)
    if ask.state is not AskState.PENDING:
        return InvalidTransition(f"{ref}: this request was already {ask.state}")
    if ask.requested_by == leader_id:
        return NotPermitted(f"four eyes: you asked for this, so someone else must decide {ref}")
    if rights is None:
        return InvalidTransition(NO_RIGHTS)
    why = rights.refusal(leader=leader_handle, action_class=mitigation.action_class,
                         services=json.loads(mitigation.scope)["services"], severity=incident.severity)
    return NotPermitted(f"{ref}: {why}") if why else None
