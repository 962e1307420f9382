"""Decision rights: which leader may authorize which class of mitigation, for which services and severities.

Policy as code beside the impact taxonomy (resources/policy/decision_rights.toml), read with the same checked
reader, so a broken file is refused whole with the file, the line and the reason. `holders_for` answers "who
may approve this?" and `refusal` says in plain words why one person may not.
"""
from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from console.errors import InvalidInput
from console.routing._reader import Node, Source, did_you_mean, read_toml, show
from console.routing.policy import policy_digest
from models.enums import Severity

DEFAULT_PATH = Path(__file__).resolve().parents[2] / "resources" / "policy" / "decision_rights.toml"
EVERY_SERVICE = "*"
MINUTE, DAY = 60, 86400

_TOP = ("version", "description", "reminder", "classes", "rights")
_CLASS = ("description", "max_duration")
_RIGHT = ("leader", "classes", "services", "severities")
_CLASS_NAME = re.compile(r"[a-z][a-z0-9_]{0,31}")
_VERSION = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,63}")


@dataclass(frozen=True)
class ActionClass:
    name: str
    description: str
    max_minutes: int


@dataclass(frozen=True)
class Right:
    """One `[[rights]]` entry: a leader, the classes, services ("*" for all) and severities it covers."""

    leader: str
    classes: tuple[str, ...]
    services: tuple[str, ...]
    severities: tuple[Severity, ...]

    def covers(self, *, action_class: str, service: str, severity: Severity) -> bool:
        return (action_class in self.classes and severity in self.severities
                and (EVERY_SERVICE in self.services or service in self.services))


@dataclass(frozen=True)
class RightsPolicy:
    version: str
    description: str
    digest: str
    reminder_minutes: int
    classes: tuple[ActionClass, ...]
    rights: tuple[Right, ...]

    def action_class(self, *, name: str) -> ActionClass:
        """Return a class by name, or refuse it naming the classes there are."""
        for found in self.classes:
            if found.name == name:
                return found
        known = [c.name for c in self.classes]
        raise InvalidInput(f"{name!r} is not a class of mitigation in the decision rights "
                           f"(known: {', '.join(known)}){did_you_mean(name, known)}")

    def leaders(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(r.leader for r in self.rights))

    def grants(self) -> set[tuple[str, str]]:
        """Return every (leader, class) pair some right grants: what the database itself checks."""
        return {(r.leader, c) for r in self.rights for c in r.classes}

    def holders_for(self, *, action_class: str, services: Iterable[str], severity: Severity) -> tuple[str, ...]:
        """Return the leaders whose rights cover the class, every service and the severity, in file order."""
        wanted = tuple(services)
        return tuple(leader for leader in self.leaders()
                     if self.refusal(leader=leader, action_class=action_class, services=wanted,
                                     severity=severity) is None)

    def refusal(self, *, leader: str, action_class: str, services: Collection[str], severity: Severity) -> str | None:
        """Return why the leader may not authorize this (None when they may), in words fit to show them."""
        mine = [r for r in self.rights if r.leader == leader]
        if not mine:
            return f"{leader} holds no decision rights (decision rights version {self.version})"
        by_class = [r for r in mine if action_class in r.classes]
        if not by_class:
            classes = sorted({c for r in mine for c in r.classes})
            return f"{leader} may not authorize {action_class} (only {', '.join(classes)})"
        by_severity = [r for r in by_class if severity in r.severities]
        if not by_severity:
            levels = sorted({s.value for r in by_class for s in r.severities})
            return f"{leader} may authorize {action_class} only at {', '.join(levels)}, not at {severity}"
        uncovered = [s for s in services
                     if not any(r.covers(action_class=action_class, service=s, severity=severity) for r in by_severity)]
        if uncovered:
            theirs = sorted({s for r in by_severity for s in r.services})
            return (f"{leader} may authorize {action_class} at {severity} only for {', '.join(theirs)}; this request "
                    f"also touches {', '.join(uncovered)}")
        return None


def load_rights(*, path: Path | None = None, text: str | None = None, people: Collection[str] | None = None,
                services: Collection[str] | None = None) -> RightsPolicy:
    """Read and check a decision-rights file; with the roster's handles and services, check the names too."""
    if text is None:
        path = path or DEFAULT_PATH
    name, text, raw = read_toml(path=path, text=text, what="decision rights", unnamed="<decision rights text>")
    source = Source(name=name, text=text)
    top = Node(source=source, path=(), data=raw)
    top.allow(_TOP)
    version = top.text("version", limit=64)
    if not _VERSION.fullmatch(version):
        top.fail("version", f"{show(version)} is not a version name (letters, digits, . _ + -)")
    classes = _classes(top.table("classes"))
    known = {c.name for c in classes}
    rights = tuple(_right(node, known, people, services) for node in top.tables("rights"))
    if not rights:
        top.fail("rights", "no [[rights]] entry: nobody could approve any mitigation")
    return RightsPolicy(version=version, description=top.text("description", default="", limit=2000),
                        digest=policy_digest(text=text),
                        reminder_minutes=top.duration("reminder", minimum=MINUTE, maximum=DAY, default=600) // MINUTE,
                        classes=classes, rights=rights)


def _classes(table: Node) -> tuple[ActionClass, ...]:
    found = []
    for name in table.data:
        if not _CLASS_NAME.fullmatch(name):
            table.fail(name, "a class name is lower-case letters, digits and _ (at most 32)")
        node = table.table(name)
        node.allow(_CLASS)
        found.append(ActionClass(name=name, description=node.text("description", limit=500),
                                 max_minutes=node.duration("max_duration", minimum=MINUTE, maximum=30 * DAY) // MINUTE))
    if not found:
        table.fail((), "no class of mitigation is defined")
    return tuple(found)


def _right(node: Node, known: set[str], people: Collection[str] | None, services: Collection[str] | None) -> Right:
    node.allow(_RIGHT)
    leader = node.text("leader", limit=64)
    if people is not None and leader not in people:
        node.fail("leader", f"nobody with the handle {show(leader)} is in the roster{did_you_mean(leader, people)}")
    classes = node.texts("classes")
    for index, name in enumerate(classes):
        if name not in known:
            node.fail(("classes", index), f"{show(name)} is not a class defined under [classes]"
                                           f"{did_you_mean(name, known)}")
    scope = node.texts("services")
    for index, name in enumerate(scope):
        if name != EVERY_SERVICE and services is not None and name not in services:
            node.fail(("services", index), f"there is no service {show(name)}{did_you_mean(name, services)}")
    if not classes or not scope:
        node.fail("classes" if not classes else "services", "must list at least one")
    severities = node.choices("severities", Severity)
    if not severities:
        node.fail("severities", "must list at least one")
    return Right(leader=leader, classes=classes, services=scope, severities=severities)


@lru_cache(maxsize=1)
def default_rights() -> RightsPolicy:
    """Return the shipped decision rights, read once per process."""
    return load_rights()
