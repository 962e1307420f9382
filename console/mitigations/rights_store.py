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
    row = session.execute(select(RightsVersion.digest, RightsVersion.content)
                          .order_by(RightsVersion.id.desc()).limit(1)).first()
    if row is None:
        return None
    if (cached := _PARSED.get(row.digest)) is None:
        cached = _PARSED[row.digest] = load_rights(text=row.content)
    return cached


def required_rights(session: Session) -> RightsPolicy:
    """Return the loaded decision rights, or refuse with what to run."""
    rights = stored_rights(session)
    if rights is None:
        raise InvalidTransition(NO_RIGHTS)
    return rights
