"""Migrations build the schema the models describe, on an empty SQLite and an empty PostgreSQL."""

from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade

from detail.extensions import db

from .conftest import make_app

MIGRATIONS = str(Path(__file__).resolve().parent.parent / "migrations")


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_app(request, tmp_path):
    url = f"sqlite:///{tmp_path / 'empty.db'}" if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    app = make_app(tmp_path, SQLALCHEMY_DATABASE_URI=url)
    with app.app_context():
        yield app
        db.session.remove()
        db.engine.dispose()


def _pending_differences():
    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return compare_metadata(context, db.metadata)


def test_upgrade_to_head_matches_models(empty_app):
    upgrade(directory=MIGRATIONS)
    tables = set(sa.inspect(db.engine).get_table_names())
    assert {"detail", "assignment", "status_report", "event", "alembic_version"} <= tables
    assert _pending_differences() == []


def test_downgrade_to_base_and_up_again(empty_app):
    upgrade(directory=MIGRATIONS)
    downgrade(directory=MIGRATIONS, revision="base")
    assert set(sa.inspect(db.engine).get_table_names()) <= {"alembic_version"}
    upgrade(directory=MIGRATIONS)
    assert _pending_differences() == []
