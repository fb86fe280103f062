"""Storing a row once, whoever else stores it at the same moment: a retried report, a resent
position, a contact's first preferences opened in two tabs."""

import sqlalchemy.orm as so
from sqlalchemy.dialects import postgresql, sqlite

from detail.extensions import db

_INSERTS_ONCE: dict = {}


def insert_once(model, key: tuple[str, ...], **values):
    """INSERT ... ON CONFLICT (key) DO NOTHING RETURNING the row: the new object, or None if the
    key was stored already. SQLite and PostgreSQL both speak it.

    A Core statement, built once per table and dialect (the ORM's bulk insert costs more CPU than
    the database does here); the returned row becomes an object of the session as if loaded."""
    dialect = db.session.get_bind().dialect.name
    statement = _INSERTS_ONCE.get((model, key, dialect))
    if statement is None:
        insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
        table = model.__table__
        statement = insert(table).on_conflict_do_nothing(index_elements=list(key)).returning(*table.columns)
        _INSERTS_ONCE[(model, key, dialect)] = statement
    row = db.session.execute(statement, values).first()
    if row is None:
        return None
    stored = model(**row._mapping)
    so.make_transient_to_detached(stored)
    db.session.add(stored)
    return stored
