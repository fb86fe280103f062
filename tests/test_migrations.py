"""Migrations build the schema the models describe, on an empty SQLite and an empty PostgreSQL."""

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from flask_migrate import downgrade, upgrade

from detail.extensions import db

from .conftest import T0, make_app

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


def _insert(connection, table_name: str, **values) -> int:
    """A row with the given values and a plain value in every other required column."""
    table = sa.Table(table_name, sa.MetaData(), autoload_with=connection)
    filler = {sa.Integer: 1, sa.String: "x", sa.Boolean: False, sa.Float: 0.0, sa.DateTime: T0, sa.JSON: {}}
    row = dict(values)
    for column in table.columns:
        if column.name in row or column.nullable or column.primary_key or column.server_default is not None:
            continue
        row[column.name] = next(v for t, v in filler.items() if isinstance(column.type, t))
    return connection.execute(table.insert().values(**row).returning(table.c.id)).scalar_one()


def test_points_from_a_clock_ahead_stored_twice_become_one_with_the_device_time(empty_app):
    # Before 0012 such a point was stored at our time on every retry, the offset kept to 0.1 s.
    upgrade(directory=MIGRATIONS, revision="0011")
    with db.engine.begin() as connection:
        organisation = _insert(connection, "organisation", name="Org")
        user = _insert(connection, "user", organisation_id=organisation, email="a@example.com", role="agent")
        agent = _insert(connection, "agent", organisation_id=organisation, user_id=user, call_sign="A1")
        sent = T0 + timedelta(hours=2)
        for received in (T0, T0 + timedelta(seconds=45, microseconds=30_000)):
            offset = round((sent - received).total_seconds(), 1)
            point = {"agent_id": agent, "source": "owntracks", "latitude": 51.5, "longitude": -0.1}
            _insert(connection, "position", **point, reported_at=received, received_at=received, clock_offset_s=offset)
        _insert(connection, "position", **point, reported_at=T0 - timedelta(minutes=1), received_at=T0)
    upgrade(directory=MIGRATIONS)
    with db.engine.connect() as connection:
        position = sa.Table("position", sa.MetaData(), autoload_with=connection)
        columns = (position.c.reported_at, position.c.device_time, position.c.clock_offset_s)
        rows = connection.execute(sa.select(*columns).order_by(position.c.id)).all()
    as_utc = [tuple(_utc(value) if isinstance(value, datetime) else value for value in row) for row in rows]
    assert as_utc == [(T0, sent, 7200.0), (T0 - timedelta(minutes=1), T0 - timedelta(minutes=1), None)]


def _utc(value: datetime) -> datetime:
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def _rules_of(connection, organisation_id: int) -> dict[tuple, tuple]:
    rule = sa.Table("classification_rule", sa.MetaData(), autoload_with=connection)
    rows = connection.execute(
        sa.select(rule.c.category, rule.c.pattern, rule.c.field, rule.c.weight, rule.c.enabled).where(
            rule.c.organisation_id == organisation_id
        )
    )
    return {(category, pattern, field): (weight, bool(enabled)) for category, pattern, field, weight, enabled in rows}


def _counts(connection) -> dict[str, int]:
    tables = ("feed", "feed_item", "advisory", "advisory_source")
    return {t: connection.execute(sa.text(f"SELECT count(*) FROM {t}")).scalar_one() for t in tables}


def test_security_category_and_the_new_default_rules_reach_organisations_with_rules(empty_app):
    upgrade(directory=MIGRATIONS, revision="0015")
    with db.engine.begin() as connection:
        with_rules = _insert(connection, "organisation", name="Has rules")
        without_rules = _insert(connection, "organisation", name="Never looked")
        old_defaults = [
            ("terrorism", "cordon", "any", 2, False),  # moves to security, and stays as the coordinator left it
            ("protest", "manifestante", "any", 3, True),  # removed
            ("transport", "closure", "any", 2, True),  # reweighted
            ("protest", "riot", "any", 1, True),  # a coordinator's own rule that looks like a default
            ("protest", "vigil", "any", 1, True),  # the coordinator's own, where a new default would go
        ]
        for category, pattern, field, weight, enabled in old_defaults:
            _insert(
                connection,
                "classification_rule",
                organisation_id=with_rules,
                category=category,
                pattern=pattern,
                field=field,
                weight=weight,
                enabled=enabled,
            )
        client = _insert(connection, "client", organisation_id=with_rules, name="Client")
        area = _insert(connection, "watch_area", client_id=client, name="France", country_code="FR")
        feed = _insert(connection, "feed", organisation_id=with_rules, url="https://a.example/rss", poll_interval_s=600)
        item = _insert(connection, "feed_item", feed_id=feed, guid="g1", category="other")
        advisory = _insert(
            connection,
            "advisory",
            organisation_id=with_rules,
            watch_area_id=area,
            category="other",
            severity="low",
            status="candidate",
        )
        _insert(connection, "advisory_source", advisory_id=advisory, watch_area_id=area, item_id=item)
        before = _counts(connection)

    upgrade(directory=MIGRATIONS, revision="0016")

    with db.engine.begin() as connection:
        assert _counts(connection) == before  # rebuilding the tables on SQLite cascaded nothing away
        rules = _rules_of(connection, with_rules)
        assert rules[("security", "cordon", "any")] == (3, False)
        assert ("terrorism", "cordon", "any") not in rules and ("protest", "manifestante", "any") not in rules
        assert rules[("transport", "closure", "any")] == (1, True)
        assert rules[("protest", "riot", "any")] == (1, True)
        assert rules[("protest", "vigil", "any")] == (1, True)
        assert rules[("security", "checkpoint", "any")] == (5, True)
        assert rules[("protest", "general strike", "any")] == (6, True)
        assert rules[("transport", "general strike", "any")] == (3, True)
        assert _rules_of(connection, without_rules) == {}  # it gets all the defaults on first use
        _insert(connection, "feed_item", feed_id=feed, guid="g2", category="security")
        connection.execute(sa.text("UPDATE advisory SET category = 'security'"))
        connection.execute(sa.text("UPDATE feed SET default_category = 'security'"))

    downgrade(directory=MIGRATIONS, revision="0015")

    with db.engine.begin() as connection:
        assert _counts(connection) == {**before, "feed_item": before["feed_item"] + 1}
        rules = _rules_of(connection, with_rules)
        assert rules == {
            ("terrorism", "cordon", "any"): (2, False),
            ("protest", "manifestante", "any"): (3, True),
            ("transport", "closure", "any"): (2, True),
            ("protest", "riot", "any"): (1, True),
            ("protest", "vigil", "any"): (1, True),
            ("terrorism", "suspicious package", "any"): (3, True),
            ("terrorism", "suspicious device", "any"): (3, True),
        }
        categories = connection.execute(sa.text("SELECT category FROM feed_item ORDER BY id")).scalars().all()
        assert categories == ["other", "other"]
        assert connection.execute(sa.text("SELECT category FROM advisory")).scalar_one() == "other"
        assert connection.execute(sa.text("SELECT default_category FROM feed")).scalar_one() is None
        with pytest.raises(sa.exc.IntegrityError), connection.begin_nested():
            _insert(connection, "feed_item", feed_id=feed, guid="g3", category="security")
