"""The organisation: people and their roles, teams, services with tiers and dependencies."""
from sqlalchemy import Boolean, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from models.base import Base, str_enum
from models.enums import FailureFamily, PersonRole, ServiceTier


class Person(Base):
    __tablename__ = "people"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    handle: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    email: Mapped[str] = mapped_column(String(200))
    title: Mapped[str] = mapped_column(String(200), default="")
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    active: Mapped[bool] = mapped_column(Boolean, default=True)

    # Loaded on demand: commands load the actor on every call and rarely need the roles.
    roles: Mapped[list["PersonRoleGrant"]] = relationship(back_populates="person", cascade="all, delete-orphan")

    @property
    def role_set(self) -> frozenset[PersonRole]:
        return frozenset(grant.role for grant in self.roles)


class PersonRoleGrant(Base):
    """A standing role a person holds in the organisation (not a role on one incident)."""

    __tablename__ = "person_roles"

    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), primary_key=True)
    role: Mapped[PersonRole] = mapped_column(str_enum(PersonRole), primary_key=True)

    person: Mapped[Person] = relationship(back_populates="roles")


class Team(Base):
    __tablename__ = "teams"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    lead_id: Mapped[int | None] = mapped_column(ForeignKey("people.id"))

    lead: Mapped[Person | None] = relationship(foreign_keys=[lead_id])
    members: Mapped[list["TeamMember"]] = relationship(back_populates="team", cascade="all, delete-orphan")


class TeamMember(Base):
    __tablename__ = "team_members"

    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id", ondelete="CASCADE"), primary_key=True)
    person_id: Mapped[int] = mapped_column(ForeignKey("people.id", ondelete="CASCADE"), primary_key=True)

    team: Mapped[Team] = relationship(back_populates="members")
    person: Mapped[Person] = relationship()


class Service(Base):
    __tablename__ = "services"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    description: Mapped[str] = mapped_column(Text, default="")
    tier: Mapped[ServiceTier] = mapped_column(str_enum(ServiceTier))
    family: Mapped[FailureFamily] = mapped_column(str_enum(FailureFamily))
    team_id: Mapped[int] = mapped_column(ForeignKey("teams.id"))
    escalation_policy_id: Mapped[int | None] = mapped_column(ForeignKey("escalation_policies.id"))
    runbook_url: Mapped[str] = mapped_column(String(500), default="", server_default="")

    team: Mapped[Team] = relationship()


class ServiceDependency(Base):
    """`service_id` depends on `depends_on_id`: a fault in the latter reaches the former."""

    __tablename__ = "service_dependencies"

    service_id: Mapped[int] = mapped_column(ForeignKey("services.id", ondelete="CASCADE"), primary_key=True)
    depends_on_id: Mapped[int] = mapped_column(ForeignKey("services.id", ondelete="CASCADE"), primary_key=True)
