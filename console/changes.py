"""What a command changed, returned to the caller so each panel can decide whether to refresh."""
from dataclasses import dataclass


@dataclass(frozen=True)
class Changes:
    incidents: frozenset[int] = frozenset()
    # Kinds of entity touched, e.g. "incident", "organisation", "signal".
    entities: frozenset[str] = frozenset()
    # The incident a command opened, so the UI can select it.
    created_incident: int | None = None
    # (incident id, version after the commit): the UI holds its actions until it has seen these versions.
    versions: tuple[tuple[int, int], ...] = ()
