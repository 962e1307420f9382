"""What a command changed, returned to the caller so each panel can decide whether to refresh."""
from dataclasses import dataclass


@dataclass(frozen=True)
class Changes:
    incidents: frozenset[int] = frozenset()
    # Kinds of entity touched, e.g. "incident", "organisation", "signal".
    entities: frozenset[str] = frozenset()
    # The incident a command opened, so the UI can select it.
    created_incident: int | None = None
    audit_ids: tuple[int, ...] = ()

    def merged(self, other: "Changes") -> "Changes":
        """Return the union of two change records."""
        return Changes(
            incidents=self.incidents | other.incidents,
            entities=self.entities | other.entities,
            created_incident=other.created_incident or self.created_incident,
            audit_ids=self.audit_ids + other.audit_ids,
        )
