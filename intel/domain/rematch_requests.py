"""What asks for a rematch: a detail's exposures or a watch area created or changed, seen at the flush.

Items are matched when they arrive; a detail planned later, a visit moved to another venue or hour,
a new post, a venue moved on the map or a new watch area would miss every item already stored. So
each flush that creates or changes one of these leaves a row in intel_rematch for its detail (or
watch area), in the flush's own transaction: the change and the request commit or roll back
together. The matching job (intel.domain.rematch) does the work; the request only writes the row.

detail/ never imports intel/: watch() registers the listener on the app's session from intel's
init_app, and the listener reads detail's models as they are.
"""

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from detail.extensions import db
from detail.models import Assignment, Detail, Movement, Site, Visit, utcnow
from intel.models import IntelRematch, WatchArea

# The attributes whose change can expose a detail (or a watch area) to items it was not exposed to.
# Relationships are named with their columns: setting visit.site changes site_id only during the flush.
DETAIL_PARTS = {
    Detail: ("starts_at", "ends_at", "state", "client_id", "client"),
    Visit: ("detail_id", "detail", "site_id", "site", "arrives_at", "departs_at"),
    Movement: ("detail_id", "detail", "from_site_id", "from_site", "to_site_id", "to_site", "departs_at", "arrives_at"),
    Assignment: ("detail_id", "detail", "site_id", "site", "report_at", "shift_starts_at", "shift_ends_at"),
}
VENUE = ("latitude", "longitude", "timezone")
AREA = ("latitude", "longitude", "radius_m", "country_code", "timezone", "name")


def watch() -> None:
    """Listen to the app's session's flushes (once, however many apps are made)."""
    if not sa.event.contains(db.session, "after_flush", _request_rematches):
        sa.event.listen(db.session, "after_flush", _request_rematches)


def _changed(instance, attributes: tuple[str, ...]) -> bool:
    state = sa.inspect(instance)
    return any(state.attrs[name].history.has_changes() for name in attributes)


def _request_rematches(session, flush_context) -> None:
    # After the flush, new rows have their ids and foreign keys; the session still lists what was
    # new and dirty, with each attribute's history.
    details: set[int] = set()
    areas: set[int] = set()
    venues: set[int] = set()
    for instance in session.new:
        if isinstance(instance, Detail):
            details.add(instance.id)
        elif isinstance(instance, Visit | Movement | Assignment):
            details.add(instance.detail_id)
        elif isinstance(instance, WatchArea):
            areas.add(instance.id)
    for instance in session.dirty:
        kind = type(instance)
        if kind in DETAIL_PARTS and _changed(instance, DETAIL_PARTS[kind]):
            details.add(instance.id if kind is Detail else instance.detail_id)
        elif kind is Site and _changed(instance, VENUE):
            venues.add(instance.id)
        elif kind is WatchArea and _changed(instance, AREA):
            areas.add(instance.id)
    if not (details or areas or venues):
        return
    connection = session.connection()
    if venues:
        details |= _details_at(connection, venues)
    request(connection, details={d for d in details if d is not None}, areas=areas)


def _details_at(connection, venues: set[int]) -> set[int]:
    """The details that visit, pass through or post agents at these venues."""
    parts = sa.union(
        sa.select(Visit.detail_id).where(Visit.site_id.in_(venues)),
        sa.select(Movement.detail_id).where(Movement.from_site_id.in_(venues) | Movement.to_site_id.in_(venues)),
        sa.select(Assignment.detail_id).where(Assignment.site_id.in_(venues)),
    ).subquery()
    # Complete details are never matched again; the job weighs the rest by their times.
    query = sa.select(Detail.id).where(Detail.id.in_(sa.select(parts.c.detail_id)), Detail.state != "complete")
    return set(connection.scalars(query))


def request(connection, details: set[int] = frozenset(), areas: set[int] = frozenset()) -> None:
    """Ask for a rematch of these details and watch areas: a row each, or its time refreshed and its
    lease cleared, so that a job at work on the target leaves the row for another round."""
    now = utcnow()
    insert = postgresql.insert if connection.dialect.name == "postgresql" else sqlite.insert
    table = IntelRematch.__table__
    for column, ids in (("detail_id", details), ("watch_area_id", areas)):
        if not ids:
            continue
        statement = insert(table).values([{column: target, "requested_at": now} for target in sorted(ids)])
        connection.execute(
            statement.on_conflict_do_update(
                index_elements=[column],
                set_={"requested_at": statement.excluded.requested_at, "claimed_until": None},
            )
        )
