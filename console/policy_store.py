"""The impact policy as loaded in the database: the newest version, parsed once per process and version.

Routing reads it inside every transaction that opens, raises or routes an incident, so the parse is cached by
the version's digest: a policy is a few kilobytes of TOML and its checks cost more than the query.
"""
from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from console.routing.definitions import Policy
from console.routing.policy import default_policy, load_policy
from models.routing import PolicyVersion

_PARSED: dict[str, Policy] = {}
_KEEP = 8  # versions kept parsed; older ones are re-read if ever asked for again


def stored_digest(session: Session) -> str | None:
    """Return the digest of the newest loaded policy version, or None when none is loaded."""
    return session.execute(select(PolicyVersion.digest).order_by(PolicyVersion.id.desc()).limit(1)).scalar()


def stored_policy(session: Session) -> Policy:
    """Return the newest loaded policy, or the shipped one when the database has none loaded yet."""
    digest = stored_digest(session)
    if digest is None:
        return default_policy()
    if (cached := _PARSED.get(digest)) is not None:
        return cached
    text = session.execute(select(PolicyVersion.content).where(PolicyVersion.digest == digest)
                           .order_by(PolicyVersion.id.desc()).limit(1)).scalar_one()
    # A stored version was checked when it was loaded; this fails only if someone edited the row by hand.
    policy = load_policy(text=text)
    if len(_PARSED) >= _KEEP:
        _PARSED.pop(next(iter(_PARSED)))
    _PARSED[digest] = policy
    return policy
