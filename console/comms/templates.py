"""Communication templates: the ones shipped in resources/templates, and the versions saved in the database.

A name's current template is its newest saved version, or the shipped file when nobody has saved one here
(that is "version 1", and is written to the database as such the first time someone saves an edit, so the
history starts where the operator started). Reading never writes.
"""
from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from console.comms.dto import AUDIENCES, TemplateInfo
from console.errors import InvalidInput
from models.comms import MessageTemplate
from models.org import Person

TEMPLATES_DIR = Path(__file__).resolve().parent.parent.parent / "resources" / "templates"
_INDEX = "templates.toml"
_KEYS = {"title", "audience", "purpose", "subject"}
MAX_SUBJECT = 300
MAX_BODY = 20_000


@dataclass(frozen=True, slots=True)
class Shipped:
    name: str
    title: str
    audience: str
    purpose: str
    subject: str
    body: str

    def info(self) -> TemplateInfo:
        return TemplateInfo(name=self.name, version=1, title=self.title, audience=self.audience,
                            purpose=self.purpose, subject=self.subject, body=self.body, created_at=None,
                            created_by="shipped with the console", reason="")


@lru_cache(maxsize=4)
def shipped_templates(directory: Path = TEMPLATES_DIR) -> dict[str, Shipped]:
    """Return the templates shipped in resources/, by name; raise InvalidInput naming the file that is wrong."""
    index = directory / _INDEX
    try:
        data = tomllib.loads(index.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise InvalidInput(f"{index}: {error}") from None
    result = {}
    for name, entry in data.items():
        if not isinstance(entry, dict) or set(entry) != _KEYS or entry["audience"] not in AUDIENCES:
            raise InvalidInput(f"{index}: [{name}] needs exactly {', '.join(sorted(_KEYS))}; audience one of "
                               f"{', '.join(AUDIENCES)}")
        body_file = directory / f"{name}.txt.j2"
        try:
            body = body_file.read_text(encoding="utf-8")
        except OSError as error:
            raise InvalidInput(f"{body_file}: {error.strerror}") from None
        result[name] = Shipped(name=name, title=entry["title"], audience=entry["audience"],
                               purpose=entry["purpose"], subject=entry["subject"], body=body)
    return result


def _newest_versions(session: Session) -> dict[str, MessageTemplate]:
    newest = (select(MessageTemplate.name, func.max(MessageTemplate.version).label("v"))
              .group_by(MessageTemplate.name).subquery())
    rows = session.execute(select(MessageTemplate).join(
        newest, (newest.c.name == MessageTemplate.name) & (newest.c.v == MessageTemplate.version))).scalars()
    return {row.name: row for row in rows}


def _info(session: Session, row: MessageTemplate) -> TemplateInfo:
    author = session.get(Person, row.created_by) if row.created_by else None
    return TemplateInfo(name=row.name, version=row.version, title=row.title, audience=row.audience,
                        purpose=row.purpose, subject=row.subject, body=row.body, created_at=row.created_at,
                        created_by=author.name if author else "system", reason=row.reason)


def current_templates(session: Session) -> dict[str, TemplateInfo]:
    """Return every template in use, by name: saved versions over shipped files."""
    result = {name: shipped.info() for name, shipped in shipped_templates().items()}
    for name, row in _newest_versions(session).items():
        result[name] = _info(session, row)
    return dict(sorted(result.items()))


def current_template(session: Session, *, name: str) -> TemplateInfo:
    """Return the template in use under a name; raise InvalidInput when there is none."""
    row = session.execute(select(MessageTemplate).where(MessageTemplate.name == name)
                          .order_by(MessageTemplate.version.desc()).limit(1)).scalar()
    if row is not None:
        return _info(session, row)
    shipped = shipped_templates().get(name)
    if shipped is None:
        raise InvalidInput(f"there is no template {name!r}")
    return shipped.info()


def template_history(session: Session, *, name: str) -> tuple[TemplateInfo, ...]:
    """Return every version of a template, newest first (the shipped file when none was saved)."""
    rows = session.execute(select(MessageTemplate).where(MessageTemplate.name == name)
                           .order_by(MessageTemplate.version.desc())).scalars().all()
    if rows:
        return tuple(_info(session, row) for row in rows)
    return (current_template(session, name=name),)
