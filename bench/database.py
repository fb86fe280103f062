"""A benchmark's throwaway database: SQLite in its work folder, or a database of its own on a
PostgreSQL server, dropped again when the benchmark ends."""

import contextlib
import os
import uuid
from collections.abc import Iterator

import sqlalchemy as sa


@contextlib.contextmanager
def scratch_database(workdir: str, name: str, postgres: str | None = None) -> Iterator[str]:
    """The URL of an empty database named after the benchmark."""
    if not postgres:
        yield f"sqlite:///{os.path.join(workdir, name + '.db')}"
        return
    database = f"bench_{name}_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(postgres, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{database}"'))
    try:
        yield sa.make_url(postgres).set(database=database).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
        admin.dispose()
