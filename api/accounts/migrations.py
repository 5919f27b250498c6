"""Upgrades in place of the API's tables in a registry database an older Vigil created.

``create_all`` creates the tables a database lacks but never alters one it has, so a column
added to an API table after the table first shipped must be added here as well, or every
query of the table fails on old databases. Such columns are nullable (the code reads ``None``
as "not yet known"), which lets ``ALTER TABLE ... ADD COLUMN`` add them on SQLite and
PostgreSQL alike without rewriting the rows. Adding is idempotent and safe when several API
processes start at once on one database: a column another process added in the meantime is
left as it is.

Examples
--------
>>> from sqlalchemy import create_engine, text
>>> engine = create_engine("sqlite://")
>>> with engine.begin() as conn:  # token_families as Vigil first shipped it
...     _ = conn.execute(text(
...         "CREATE TABLE token_families (family_id VARCHAR(64) PRIMARY KEY, username"
...         " VARCHAR(64), current_jti VARCHAR(64), expires_at INTEGER, created_at DATETIME,"
...         " revoked_at DATETIME)"))
>>> upgrade_schema(engine)
['token_families.previous_jti', 'token_families.rotated_at']
>>> upgrade_schema(engine)
[]
"""

from __future__ import annotations

import logging

from sqlalchemy import Column, Engine, inspect, text
from sqlalchemy.exc import DBAPIError

from api.accounts import schema  # noqa: F401 - registers the API's tables
from ingest.registry import RegistryBase

__all__ = ["ADDED_COLUMNS", "add_columns", "missing_columns", "upgrade_schema"]

logger = logging.getLogger(__name__)

#: Columns added to a table after it first shipped, oldest first: ``(table, column)``.
ADDED_COLUMNS: tuple[tuple[str, str], ...] = (
    # The refresh-token reuse grace (api.accounts.token_families).
    ("token_families", "previous_jti"),
    ("token_families", "rotated_at"),
)


def missing_columns(engine: Engine) -> list[Column[object]]:
    """The columns of :data:`ADDED_COLUMNS` that exist in the models but not in the database
    (a table the database lacks altogether is ``create_all``'s to make, not listed here)."""
    inspector = inspect(engine)
    tables = set(inspector.get_table_names())
    present: dict[str, set[str]] = {}
    missing = []
    for table, column in ADDED_COLUMNS:
        if table not in tables:
            continue
        if table not in present:
            present[table] = {c["name"] for c in inspector.get_columns(table)}
        if column not in present[table]:
            missing.append(RegistryBase.metadata.tables[table].c[column])
    return missing


def add_columns(engine: Engine, columns: list[Column[object]]) -> list[str]:
    """Add ``columns`` (nullable) to their tables; return ``table.column`` of those added.

    A column that another process added since ``columns`` was listed is skipped.
    """
    quote = engine.dialect.identifier_preparer.quote
    added = []
    for column in columns:
        name = f"{column.table.name}.{column.name}"
        ddl = (
            f"ALTER TABLE {quote(column.table.name)} ADD COLUMN {quote(column.name)} "
            f"{column.type.compile(dialect=engine.dialect)}"
        )
        try:
            with engine.begin() as conn:
                conn.execute(text(ddl))
        except DBAPIError:
            # Lost a race with another process adding it (SQLite and PostgreSQL both refuse
            # a duplicate column); anything else is a real failure.
            if _has_column(engine, column.table.name, column.name):
                continue
            raise
        logger.info("registry schema: added column %s", name)
        added.append(name)
    return added


def _has_column(engine: Engine, table: str, column: str) -> bool:
    inspector = inspect(engine)
    return table in inspector.get_table_names() and column in {
        c["name"] for c in inspector.get_columns(table)
    }


def upgrade_schema(engine: Engine) -> list[str]:
    """Add every column of :data:`ADDED_COLUMNS` the database lacks; return those added."""
    return add_columns(engine, missing_columns(engine))
