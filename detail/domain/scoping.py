"""What belongs to an organisation: the one place that knows how each table reaches its owner.

Pages and the API look rows up through these, so a coordinator of one firm can neither
see nor reference another firm's rows (they are answered as not found).
"""

import sqlalchemy as sa

from detail.extensions import db
from detail.models import (
    Agent,
    ApiToken,
    Assignment,
    Client,
    ClientRequest,
    Detail,
    Device,
    Movement,
    PersonOfInterest,
    Principal,
    Removal,
    Risk,
    Site,
    StatusCode,
    User,
    Visit,
)


def owned(model, organisation_id: int) -> sa.Select:
    """SELECT model rows that belong to the organisation."""
    query = sa.select(model)
    if model in (Client, Site, Agent, User, StatusCode, Device):
        return query.where(model.organisation_id == organisation_id)
    if model in (Principal, Detail, Risk, PersonOfInterest, ClientRequest):
        return query.join(Client, model.client_id == Client.id).where(Client.organisation_id == organisation_id)
    if model in (Visit, Movement, Assignment, Removal):
        return (
            query.join(Detail, model.detail_id == Detail.id)
            .join(Client, Detail.client_id == Client.id)
            .where(Client.organisation_id == organisation_id)
        )
    if model is ApiToken:
        return query.join(User, ApiToken.user_id == User.id).where(User.organisation_id == organisation_id)
    raise TypeError(f"no organisation scope for {model.__name__}")


def get_owned(model, row_id, organisation_id: int):
    """The row with that id if it belongs to the organisation, else None."""
    if row_id is None:
        return None
    return db.session.scalar(owned(model, organisation_id).where(model.id == row_id))
