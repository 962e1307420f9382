"""Persistence layer: SQLAlchemy 2 typed ORM and Alembic migrations. Imports SQLAlchemy only.

Kept empty on purpose: `models.enums` must be importable without loading the ORM (the GUI's DTOs use it).
"""
