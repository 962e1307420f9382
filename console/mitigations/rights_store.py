"""The decision rights as loaded in the database: the newest version, parsed once per process and version."""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from console.errors import InvalidTransition
from console.routing.rights import RightsPolicy, load_rights
from models.mitigation import RightsVersion

_PARSED: dict[str, RightsPolicy] = {}
NO_RIGHTS = ("no decision rights are loaded in this database, so nobody can approve a mitigation: "
             "run `python main.py rights load --db URL --reason ...`")


def stored_rights(session: Session) -> RightsPolicy | None:
    """Return the newest loaded decision rights, or None when none were ever loaded."""
    newest = session.execute(select(RightsVersion.id, RightsVersion.digest)
                             .order_by(RightsVersion.id.desc()).limit(1)).first()
    if newest is None:
        return None
    if (cached := _PARSED.get(newest.digest)) is None:
        # Read and parsed once per process and version; every decision and view asks, and rarely anew.
        text = session.execute(select(RightsVersion.content).where(RightsVersion.id == newest.id)).scalar_one()
        cached = _PARSED[newest.digest] = load_rights(text=text)
    return cached


def required_rights(session: Session) -> RightsPolicy:
    """Return the loaded decision rights, or refuse with what to run."""
    rights = stored_rights(session)
    if rights is None:
        raise InvalidTransition(NO_RIGHTS)
    return rights
