"""A live socket keeps only the rights it connected with: a revoked token, a deactivated account or
a role that no longer allows the namespace ends it, at its next event or at the next sweep."""

import sqlalchemy as sa

from detail.auth import issue_token, revoke_token
from detail.extensions import db
from detail.live import NAMESPACE, PHONE_NAMESPACE
from detail.models import ApiToken
from detail.socket_guard import guard

from .conftest import FreshContextSocket, sign_in


def _token(user) -> str:
    token = issue_token(user, "live")
    db.session.commit()
    return token


def _revoke(plaintext: str) -> None:
    revoke_token(db.session.scalar(sa.select(ApiToken).where(ApiToken.token_hash == ApiToken.hash(plaintext))))
    db.session.commit()


def _board(app, client=None, auth=None) -> FreshContextSocket:
    sock = FreshContextSocket(app, namespace=NAMESPACE, flask_test_client=client, auth=auth)
    assert sock.is_connected(NAMESPACE)
    return sock


def _sweep(app) -> list:
    return guard.sweep()


def test_a_revoked_token_ends_the_board_it_opened_and_no_other(app, world):
    revoked, kept = _token(world.coordinator), _token(world.coordinator)
    board, other = _board(app, auth={"token": revoked}), _board(app, auth={"token": kept})
    assert board.emit("join", {}, namespace=NAMESPACE, callback=True)["ok"] is True

    _revoke(revoked)
    ack = board.emit("catch_up", {"after": 0}, namespace=NAMESPACE, callback=True)
    assert ack["ok"] is False and "no longer valid" in ack["error"] and "events" not in ack
    assert board.emit("join", {}, namespace=NAMESPACE, callback=True)["ok"] is False

    assert len(_sweep(app)) == 1
    assert not board.is_connected(NAMESPACE)
    assert other.is_connected(NAMESPACE)
    assert other.emit("catch_up", {"after": 0}, namespace=NAMESPACE, callback=True)["ok"] is True
    assert _sweep(app) == []


def test_a_deactivated_coordinator_is_disconnected_from_a_session_board(app, client, world):
    sign_in(client, world.coordinator)
    board = _board(app, client)
    world.coordinator.active = False
    db.session.commit()
    _sweep(app)
    assert not board.is_connected(NAMESPACE)


def test_a_coordinator_who_is_no_longer_staff_is_disconnected(app, world):
    board = _board(app, auth={"token": _token(world.coordinator)})
    world.coordinator.role = "agent"
    db.session.commit()
    assert board.emit("join", {}, namespace=NAMESPACE, callback=True)["ok"] is False
    _sweep(app)
    assert not board.is_connected(NAMESPACE)


def test_a_phone_whose_token_is_revoked_is_disconnected(app, world):
    token = _token(world.agent_user)
    phone = FreshContextSocket(app, namespace=PHONE_NAMESPACE, auth={"token": token})
    assert phone.is_connected(PHONE_NAMESPACE)
    assert _sweep(app) == []
    _revoke(token)
    _sweep(app)
    assert not phone.is_connected(PHONE_NAMESPACE)


def test_a_disconnected_socket_is_forgotten(app, world):
    board = _board(app, auth={"token": _token(world.coordinator)})
    before = len(guard._sockets)
    board.disconnect(namespace=NAMESPACE)
    assert len(guard._sockets) == before - 1
