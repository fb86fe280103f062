"""The SQL statements an engine runs inside a block: what the board and geofence benchmarks (and
the board's statement-count test) report beside their times."""

import contextlib
from collections.abc import Iterator

import sqlalchemy as sa


@contextlib.contextmanager
def counted(engine: sa.Engine) -> Iterator[list[str]]:
    statements: list[str] = []

    def count(connection, cursor, statement, *rest) -> None:
        statements.append(statement)

    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)
