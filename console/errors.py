"""Errors the domain raises on purpose; each message says what is wrong and where, fit to show a user."""


class ConsoleError(Exception):
    """Base of every expected failure; its message is shown to the user as is."""


class DatabaseUnavailable(ConsoleError):
    """The database cannot be reached or opened."""


class DatabaseBusy(DatabaseUnavailable):
    """Another session holds what this action needs, or the database did not answer in time: kept, retried."""


class SchemaMismatch(ConsoleError):
    """The database schema is newer than this console, or not a console database at all."""


class NotFound(ConsoleError):
    """A referenced row does not exist."""


class InvalidInput(ConsoleError):
    """An argument is missing or malformed."""


class InvalidTransition(ConsoleError):
    """The incident is not in a state where this action applies."""


class Conflict(ConsoleError):
    """Someone else changed the row since it was read; nothing was overwritten."""


class AlreadyApplied(ConsoleError):
    """An action with this idempotency key was applied before (a replay after a crash): nothing to do."""

    def __init__(self, message: str, *, versions: tuple[tuple[int, int], ...] = ()) -> None:
        super().__init__(message)
        self.versions = versions  # (incident id, version) as that action left them


class NotPermitted(InvalidInput):
    """The person may not do this: four eyes, a decision right they do not hold, a key that is not theirs."""
