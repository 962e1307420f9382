"""What the audit chain hashes, and the verdict of a walk over it: the one definition both writing and checking use.

An entry's hash is SHA-256 over the previous entry's hash followed by the entry's canonical content: the JSON
object (sorted keys, no spaces, non-ASCII kept as UTF-8) of its time, actor id, actor, action, subject type,
subject id, before and after, where before and after are themselves canonical JSON text. docs/AUDIT.md has it
in full, so an auditor can recompute every hash without this code.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timezone
from enum import StrEnum
from json.encoder import encode_basestring
from typing import Any

GENESIS_HASH = "0" * 64


def canonical_json(value: Any) -> str:
    """Serialise to the one byte-exact JSON form that is hashed and stored."""
    # Imported here: verification workers load this module and must start without SQLAlchemy (models.base).
    from models.base import as_plain

    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=as_plain)


def at_text(at: datetime) -> str:
    """Return an entry's time as it is hashed: UTC, ISO 8601, always with microseconds."""
    return at.astimezone(timezone.utc).isoformat(timespec="microseconds")


def entry_content(at: str, actor_id: int | None, actor: str, action: str, subject_type: str, subject_id: str,
                  before: str, after: str, /) -> str:
    """Return an entry's canonical content: canonical_json of its fields, built without a dict per entry.

    This is the one definition the chain is written and verified with. Verifying a million entries spends most
    of its time here, so it writes the sorted keys out and quotes each string with the encoder json.dumps itself
    uses (ensure_ascii=False); tests/test_audit_verify.py proves it byte-identical to canonical_json of the dict.
    """
    return (f'{{"action":{encode_basestring(action)},"actor":{encode_basestring(actor)},'
            f'"actor_id":{_actor_id(actor_id)},"after":{encode_basestring(after)},'
            f'"at":{encode_basestring(at)},"before":{encode_basestring(before)},'
            f'"subject_id":{encode_basestring(subject_id)},"subject_type":{encode_basestring(subject_type)}}}')


def _actor_id(value: int | None) -> str:
    # A person's id, or null for automation; anything else is written as json.dumps writes it (a stored value
    # of another type then fails its hash, as it should).
    if value is None:
        return "null"
    return str(value) if type(value) is int else json.dumps(value, ensure_ascii=False)


def entry_hash(
    *,
    prev_hash: str,
    at: datetime,
    actor_id: int | None,
    actor: str,
    action: str,
    subject_type: str,
    subject_id: str,
    before: str,
    after: str,
) -> str:
    """Return SHA-256 over the previous hash and this entry's canonical content."""
    content = entry_content(at_text(at), actor_id, actor, action, subject_type, subject_id, before, after)
    return hashlib.sha256((prev_hash + content).encode("utf-8")).hexdigest()


class BreakKind(StrEnum):
    """How the chain was found broken, judged at its first bad entry."""

    ALTERED = "altered"  # an entry's content (or its prev_hash) no longer matches its own hash
    DELETED = "deleted"  # an entry follows a hash no entry has: what it followed is gone
    INSERTED = "inserted"  # an entry the chain goes around: its neighbours link to each other, not to it
    REORDERED = "reordered"  # an entry links to another that is in the table, but not right before it
    TRUNCATED = "truncated"  # a head the caller saw before is no longer in the chain: the tail was cut off


@dataclass(frozen=True)
class ChainHead:
    """The newest entry of an intact chain: remember it, and a later check can tell if the tail was cut off."""

    id: int
    hash: str

    def __str__(self) -> str:
        return f"{self.id}:{self.hash}"

    @classmethod
    def parse(cls, value: str) -> ChainHead:
        """Read `ID:HASH` as printed by `audit verify`; raise ValueError if it is not that."""
        ident, _, digest = value.strip().lstrip("#").partition(":")
        if not ident.isdigit() or len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            raise ValueError(f"{value!r}: expected ID:HASH, the head `audit verify` printed (64 hex digits)")
        return cls(int(ident), digest)


@dataclass(frozen=True)
class ChainVerdict:
    """The result of a walk: intact or not, how many entries fitted, and the first that did not, with why."""

    intact: bool
    checked: int
    first_bad_id: int | None = None
    reason: str = ""
    kind: BreakKind | None = None
    # The newest entry in the walk (of an intact chain: the head to remember); None for an empty chain.
    head: ChainHead | None = None
