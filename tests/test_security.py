"""Rate limits, security headers and the content security policy, cookie flags, proxies."""

import uuid
from datetime import timedelta

import pytest
import time_machine

from detail.extensions import db
from detail.web.auth import issue_token
from detail.web.calendar import issue_link
from detail.web.security import tile_source

from .conftest import PASSWORD, T0, make_app

NOW = T0 - timedelta(minutes=40)


@pytest.fixture
def limited(tmp_path):
    """An app with rate limits on, low enough to reach in a test."""

    def build(**overrides):
        config = {
            "RATELIMIT_ENABLED": True,
            "RATELIMIT_STORAGE_URI": "memory://",
            "RATELIMIT_LOGIN_PER_ADDRESS": "3 per minute",
            "RATELIMIT_LOGIN_PER_ACCOUNT": "5 per hour",
            "RATELIMIT_GUESSES_PER_ADDRESS": "3 per minute",
            "RATELIMIT_STATUS_PER_AGENT": "4 per minute",
            "RATELIMIT_INGEST_PER_DEVICE": "3 per minute",
        }
        config.update(overrides)
        return make_app(tmp_path, **config)

    return build


def _fail_login(client, email="coord@aegis.example", address="192.0.2.1"):
    return client.post(
        "/login", data={"email": email, "password": "not the password"}, environ_base={"REMOTE_ADDR": address}
    )


def test_failed_sign_ins_are_limited_per_address(limited):
    app = limited()
    with app.app_context():
        from .conftest import build_world

        build_world()
        client = app.test_client()
        assert [_fail_login(client).status_code for _ in range(3)] == [401, 401, 401]
        refused = _fail_login(client)
        assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
        # the right password from that address waits too; another address is not affected
        ok = client.post(
            "/login",
            data={"email": "coord@aegis.example", "password": PASSWORD},
            environ_base={"REMOTE_ADDR": "192.0.2.1"},
        )
        assert ok.status_code == 429
        other = client.post(
            "/login",
            data={"email": "coord@aegis.example", "password": PASSWORD},
            environ_base={"REMOTE_ADDR": "192.0.2.99"},
        )
        assert other.status_code == 302


def test_failed_sign_ins_are_limited_per_account_across_addresses(limited):
    app = limited()
    with app.app_context():
        from .conftest import build_world

        build_world()
        client = app.test_client()
        codes = [_fail_login(client, address=f"198.51.100.{i}").status_code for i in range(6)]
        assert codes == [401] * 5 + [429]
        # another account from a fresh address is still let in to try
        assert _fail_login(client, email="admin@aegis.example", address="198.51.100.77").status_code == 401


def test_successful_sign_ins_do_not_count(limited):
    app = limited()
    with app.app_context():
        from .conftest import build_world

        build_world()
        for _ in range(5):
            client = app.test_client()
            assert client.post("/login", data={"email": "coord@aegis.example", "password": PASSWORD}).status_code == 302


def test_bad_tokens_are_limited_per_address(limited):
    app = limited()
    with app.app_context():
        client = app.test_client()
        answers = [client.get("/api/v1/clients", headers={"Authorization": "Bearer om_guess"}) for _ in range(4)]
        assert [r.status_code for r in answers] == [401, 401, 401, 429]
        assert answers[-1].is_json and "limit" in answers[-1].json["message"].lower()
        assert 0 < int(answers[-1].headers["Retry-After"]) <= 60
        assert "Retry-After" not in answers[0].headers  # only a refusal says when to come back


def test_status_posts_are_limited_per_agent(limited):
    app = limited()
    with app.app_context(), time_machine.travel(NOW, tick=False):
        from .conftest import build_world

        world = build_world()
        headers = {"Authorization": "Bearer " + issue_token(world.agent_user, "phone")}
        db.session.commit()
        client = app.test_client()
        codes = [
            client.post("/api/v1/status", json={"code": "OM", "client_id": f"r-{i}"}, headers=headers).status_code
            for i in range(5)
        ]
        assert codes == [201, 201, 201, 201, 429]
        late = client.post("/api/v1/status", json={"code": "OM", "client_id": "r-9"}, headers=headers)
        assert late.status_code == 429 and int(late.headers["Retry-After"]) > 0
        # a coordinator's token is counted apart
        staff = {"Authorization": "Bearer " + issue_token(world.coordinator, "laptop")}
        db.session.commit()
        assert client.get("/api/v1/clients", headers=staff).status_code == 200


def test_ingest_is_limited_per_device(limited):
    app = limited(RATELIMIT_GUESSES_PER_ADDRESS="30 per minute")
    with app.app_context():
        client = app.test_client()
        codes = [client.get("/ingest/osmand?id=unknown-1&lat=51.5&lon=-0.1").status_code for _ in range(4)]
        assert codes == [403, 403, 403, 429]
        assert client.get("/ingest/osmand?id=unknown-2&lat=51.5&lon=-0.1").status_code == 403


def test_limits_are_shared_by_processes_through_redis(limited, redis_url, tmp_path):
    # Two apps (two web processes) counting in one Redis: the third failure across them is the last.
    storage = redis_url.rsplit("/", 1)[0] + "/3"
    prefix = uuid.uuid4().hex
    apps = [limited(RATELIMIT_STORAGE_URI=storage, RATELIMIT_KEY_PREFIX=prefix) for _ in range(2)]
    address = f"203.0.113.{uuid.uuid4().int % 200}"
    codes = []
    for i in range(4):
        with apps[i % 2].app_context():
            codes.append(_fail_login(apps[i % 2].test_client(), address=address).status_code)
    assert codes == [401, 401, 401, 429]


def test_security_headers_and_content_security_policy(client):
    r = client.get("/login")
    csp = dict(part.strip().split(" ", 1) for part in r.headers["Content-Security-Policy"].split(";") if part.strip())
    assert csp["script-src"] == "'self'"  # no inline script, no eval
    assert "'unsafe-inline'" not in csp["default-src"] and csp["object-src"] == "'none'"
    assert csp["frame-ancestors"] == "'none'" and csp["connect-src"] == "'self'"
    assert "https://tile.openstreetmap.org" in csp["img-src"]
    assert r.headers["X-Frame-Options"] == "DENY"
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.headers["Referrer-Policy"] == "same-origin"
    assert "geolocation=(self)" in r.headers["Permissions-Policy"]


@pytest.mark.parametrize(
    "tiles, source",
    [
        ("https://tile.openstreetmap.org/{z}/{x}/{y}.png", "https://tile.openstreetmap.org"),
        ("https://{s}.tile.example.net/{z}/{x}/{y}.png", "https://*.tile.example.net"),
        ("/tiles/{z}/{x}/{y}.png", "'self'"),
    ],
)
def test_the_map_tile_server_is_allowed_for_images(tiles, source):
    assert tile_source(tiles) == source


def _sign_in_cookie(client, base_url="http://localhost"):
    r = client.post(
        "/login", data={"email": "coord@aegis.example", "password": PASSWORD, "remember": "y"}, base_url=base_url
    )
    assert r.status_code == 302
    return r.headers.getlist("Set-Cookie"), r


def test_production_cookies_are_secure_and_https_is_strict(tmp_path):
    app = make_app(tmp_path, OSCARMIKE_ENV="production", SESSION_COOKIE_SECURE=True, REMEMBER_COOKIE_SECURE=True)
    with app.app_context():
        from .conftest import build_world

        build_world()
        cookies, r = _sign_in_cookie(app.test_client(), "https://om.example")
    assert len(cookies) == 2  # the session and "remember me"
    for cookie in cookies:
        assert "Secure" in cookie and "HttpOnly" in cookie
    assert any("SameSite=Lax" in cookie for cookie in cookies)
    assert "max-age=" in r.headers["Strict-Transport-Security"]


def test_development_cookies_work_over_plain_http(client, world):
    cookies, r = _sign_in_cookie(client)
    assert all("HttpOnly" in cookie and "Secure" not in cookie for cookie in cookies)
    assert "Strict-Transport-Security" not in r.headers


def test_behind_a_trusted_proxy_limits_count_the_client_not_the_proxy(limited):
    app = limited(TRUSTED_PROXIES=1)
    with app.app_context():
        client = app.test_client()

        def guess(client_address):
            return client.get(
                "/api/v1/clients",
                headers={"Authorization": "Bearer om_guess", "X-Forwarded-For": client_address},
                environ_base={"REMOTE_ADDR": "127.0.0.1"},
            ).status_code

        assert [guess("192.0.2.10") for _ in range(4)] == [401, 401, 401, 429]
        assert guess("192.0.2.11") == 401  # another client behind the same proxy


def test_guessing_device_ids_is_limited_per_address(limited):
    app = limited(RATELIMIT_INGEST_PER_DEVICE="600 per minute", RATELIMIT_GUESSES_PER_ADDRESS="5 per minute")
    with app.app_context():
        client = app.test_client()
        codes = [client.get(f"/ingest/osmand?id=guess-{i}&lat=51.5&lon=-0.1").status_code for i in range(7)]
        assert codes == [403] * 5 + [429, 429]
        other = client.get("/ingest/osmand?id=guess-x&lat=51.5&lon=-0.1", environ_base={"REMOTE_ADDR": "192.0.2.50"})
        assert other.status_code == 403


def _guesses(client, address: str) -> list:
    """One refused secret of each kind, from one address."""
    env = {"REMOTE_ADDR": address}
    bad_token = {"Authorization": "Bearer om_guess"}
    return [
        client.get("/api/v1/clients", headers=bad_token, environ_base=env),
        client.get("/api/v1/feeds", headers=bad_token, environ_base=env),  # another API group
        client.get("/calendar/guessed-secret.ics", environ_base=env),
        client.get("/portal/feed/guessed-secret.atom", environ_base=env),
        client.get("/ingest/osmand?id=guessed-device&lat=51.5&lon=-0.1", environ_base=env),
        client.post(
            "/ingest/owntracks", json={"_type": "location"}, auth=("agent@aegis.example", "om_x"), environ_base=env
        ),
    ]


def test_guessing_is_counted_per_address_across_every_kind_of_secret(limited):
    app = limited(RATELIMIT_GUESSES_PER_ADDRESS="6 per minute", RATELIMIT_INGEST_PER_DEVICE="600 per minute")
    with app.app_context():
        from .conftest import build_world

        world = build_world()
        link = issue_link(world.agent)
        db.session.commit()
        client = app.test_client()
        assert [r.status_code for r in _guesses(client, "192.0.2.7")] == [401, 401, 404, 404, 403, 401]
        # The allowance is spent: every kind is refused now, the right secret too, with Retry-After.
        for response in _guesses(client, "192.0.2.7") + [client.get(link, environ_base={"REMOTE_ADDR": "192.0.2.7"})]:
            assert response.status_code == 429, response.request.path
            assert 0 < int(response.headers["Retry-After"]) <= 60
        # Another address has its own allowance, and the calendar link works from there.
        assert client.get(link, environ_base={"REMOTE_ADDR": "192.0.2.8"}).status_code == 200


def test_a_socket_connect_with_a_bad_token_counts_as_a_guess(limited):
    from detail.domain.live import NAMESPACE

    from .conftest import FreshContextSocket

    app = limited(RATELIMIT_GUESSES_PER_ADDRESS="3 per minute")
    with app.app_context():
        from .conftest import build_world

        world = build_world()
        good = issue_token(world.coordinator, "board")
        db.session.commit()
        client = app.test_client()
        for _ in range(2):
            sock = FreshContextSocket(app, namespace=NAMESPACE, auth={"token": "om_guess"})
            assert not sock.is_connected(NAMESPACE)
        # A board reconnecting after its session ended offers no secret: not a guess.
        for _ in range(5):
            assert not FreshContextSocket(app, namespace=NAMESPACE).is_connected(NAMESPACE)
        # Two socket guesses and one API guess use up the address's three.
        assert client.get("/api/v1/clients", headers={"Authorization": "Bearer om_guess"}).status_code == 401
        assert client.get("/api/v1/clients", headers={"Authorization": "Bearer " + good}).status_code == 429
        # A socket from that address is refused now, even with a good token.
        sock = FreshContextSocket(app, namespace=NAMESPACE, auth={"token": good})
        assert not sock.is_connected(NAMESPACE)


def test_guessing_the_socket_from_behind_a_trusted_proxy_counts_the_client(limited):
    from detail.domain.live import NAMESPACE

    from .conftest import FreshContextSocket

    app = limited(RATELIMIT_GUESSES_PER_ADDRESS="2 per minute", TRUSTED_PROXIES=1)
    with app.app_context():
        for _ in range(2):
            sock = FreshContextSocket(
                app, namespace=NAMESPACE, auth={"token": "om_guess"}, headers={"X-Forwarded-For": "192.0.2.30"}
            )
            assert not sock.is_connected(NAMESPACE)
        client = app.test_client()

        def guess(client_address):
            return client.get(
                "/api/v1/clients",
                headers={"Authorization": "Bearer om_guess", "X-Forwarded-For": client_address},
                environ_base={"REMOTE_ADDR": "127.0.0.1"},
            ).status_code

        assert guess("192.0.2.30") == 429
        assert guess("192.0.2.31") == 401
