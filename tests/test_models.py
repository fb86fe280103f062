"""Each rule the database holds is refused by the database itself, on SQLite and on PostgreSQL."""

from datetime import datetime, timedelta, timezone

import pytest
import sqlalchemy as sa

from detail.extensions import db
from detail.models import (
    Assignment,
    Client,
    Detail,
    Movement,
    Position,
    Principal,
    Site,
    StatusCode,
    StatusReport,
    User,
    Visit,
)

from .conftest import T0


def _lead(w, **overrides):
    values = dict(
        detail=w.detail,
        agent=w.agent,
        role="agent",
        report_at=T0,
        shift_starts_at=T0 - timedelta(hours=1),
        shift_ends_at=T0 + timedelta(hours=1),
    )
    values.update(overrides)
    return Assignment(**values)


REFUSED = {
    "site latitude over 90": lambda w: Site(organisation=w.org, name="x", latitude=90.5, longitude=0),
    "site longitude under -180": lambda w: Site(organisation=w.org, name="x", latitude=0, longitude=-180.1),
    "site radius zero": lambda w: Site(organisation=w.org, name="x", latitude=0, longitude=0, arrival_radius_m=0),
    "detail ends before start": lambda w: Detail(
        client=w.client, name="x", starts_at=T0, ends_at=T0 - timedelta(minutes=1)
    ),
    "detail unknown state": lambda w: Detail(
        client=w.client, name="x", starts_at=T0, ends_at=T0 + timedelta(hours=1), state="lost"
    ),
    "detail with another client's principal": lambda w: Detail(
        client_id=w.other_client.id,
        principal_id=w.principal.id,
        name="x",
        starts_at=T0,
        ends_at=T0 + timedelta(hours=1),
    ),
    "detail of a client that does not exist": lambda w: Detail(
        client_id=999999, name="x", starts_at=T0, ends_at=T0 + timedelta(hours=1)
    ),
    "client contact without client": lambda w: User(organisation=w.org, email="c@x.example", name="c", role="client"),
    "coordinator bound to a client": lambda w: User(
        organisation=w.org, email="k@x.example", name="k", role="coordinator", client=w.client
    ),
    "unknown role": lambda w: User(organisation=w.org, email="r@x.example", name="r", role="root"),
    "email taken": lambda w: User(organisation=w.org, email=w.coordinator.email, name="d", role="coordinator"),
    "client name twice in one organisation": lambda w: Client(organisation=w.org, name=w.client.name),
    "principal code name twice for a client": lambda w: Principal(client=w.client, name="y", code_name="KESTREL"),
    "status code twice in one organisation": lambda w: StatusCode(
        organisation=w.org, code="OM", spoken_name="again", meaning="again"
    ),
    "status code of unknown kind": lambda w: StatusCode(
        organisation=w.org, code="ZZ", spoken_name="z", meaning="z", kind="panic"
    ),
    "agent twice on a detail": lambda w: _lead(w),
    "second detail lead": lambda w: Assignment(
        detail=w.detail,
        agent=w.idle_agent_user.agent,
        role="detail_lead",
        report_at=T0,
        shift_starts_at=T0 - timedelta(hours=1),
        shift_ends_at=T0 + timedelta(hours=1),
    ),
    "shift ends before it starts": lambda w: _lead(
        w, detail=w.other_client_detail, shift_ends_at=T0 - timedelta(hours=2)
    ),
    "report after the shift": lambda w: _lead(w, detail=w.other_client_detail, report_at=T0 + timedelta(hours=2)),
    "unknown assignment role": lambda w: _lead(w, detail=w.other_client_detail, role="sniper"),
    "visit leaves before it arrives": lambda w: Visit(detail=w.detail, site=w.venue, arrives_at=T0, departs_at=T0),
    "movement to the same site": lambda w: Movement(
        detail=w.detail, from_site=w.hotel, to_site=w.hotel, departs_at=T0, arrives_at=T0 + timedelta(hours=1)
    ),
    "movement arrives before departure": lambda w: Movement(
        detail=w.detail, from_site=w.hotel, to_site=w.venue, departs_at=T0, arrives_at=T0 - timedelta(hours=1)
    ),
    "position latitude out of range": lambda w: Position(agent=w.agent, latitude=-91, longitude=0, reported_at=T0),
    "status report with unknown source": lambda w: StatusReport(
        agent=w.agent, status_code=_code(w, "OM"), client_id="a", reported_at=T0, source="pigeon"
    ),
}


def _code(w, code):
    return db.session.scalar(sa.select(StatusCode).where(StatusCode.organisation == w.org, StatusCode.code == code))


@pytest.mark.parametrize("case", REFUSED, ids=list(REFUSED))
def test_database_refuses(backend, case):
    db.session.add(REFUSED[case](backend))
    with pytest.raises(sa.exc.IntegrityError):
        db.session.flush()


def test_status_report_stored_once_per_agent_and_client_id(backend):
    om = _code(backend, "OM")
    db.session.add(StatusReport(agent=backend.agent, status_code=om, client_id="retry-1", reported_at=T0))
    db.session.commit()
    db.session.add(StatusReport(agent=backend.agent, status_code=om, client_id="retry-1", reported_at=T0))
    with pytest.raises(sa.exc.IntegrityError):
        db.session.flush()


def test_times_come_back_as_utc(backend):
    local = datetime(2026, 7, 1, 9, 0, tzinfo=timezone(timedelta(hours=1)))
    detail = Detail(client=backend.client, name="summer", starts_at=local, ends_at=local + timedelta(hours=2))
    db.session.add(detail)
    db.session.commit()
    detail_id = detail.id
    db.session.expire_all()
    stored = db.session.get(Detail, detail_id)
    assert stored.starts_at == datetime(2026, 7, 1, 8, 0, tzinfo=timezone.utc)
    assert stored.starts_at.utcoffset() == timedelta(0)


def test_naive_times_are_refused(backend):
    db.session.add(
        Detail(client=backend.client, name="naive", starts_at=datetime(2026, 1, 1), ends_at=datetime(2026, 1, 2))
    )
    with pytest.raises(sa.exc.StatementError, match="naive datetime"):
        db.session.flush()


def test_deleting_a_detail_removes_its_itinerary(backend):
    detail_id = backend.detail.id
    db.session.delete(backend.detail)
    db.session.commit()
    for model in (Visit, Movement, Assignment):
        assert db.session.scalar(sa.select(sa.func.count()).select_from(model).where(model.detail_id == detail_id)) == 0
