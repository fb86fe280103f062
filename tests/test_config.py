"""Configuration from the environment."""

import pytest

from detail.config import ConfigError, database_url, from_environment


def test_development_generates_and_keeps_a_secret_key(tmp_path):
    first = from_environment(str(tmp_path), env={})
    second = from_environment(str(tmp_path), env={})
    assert first["SECRET_KEY"] == second["SECRET_KEY"]
    assert len(first["SECRET_KEY"]) == 64
    assert (tmp_path / "secret_key").stat().st_mode & 0o777 == 0o600
    assert first["SESSION_COOKIE_SECURE"] is False


def test_production_refuses_to_start_without_secret_key(tmp_path):
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        from_environment(str(tmp_path), env={"OSCARMIKE_ENV": "production"})
    assert not (tmp_path / "secret_key").exists()


@pytest.mark.parametrize("key", ["", "s" * 31, "change-me", "hunter2"])
def test_production_refuses_a_short_secret_key_and_says_how_to_make_one(tmp_path, key):
    with pytest.raises(ConfigError) as refused:
        from_environment(str(tmp_path), env={"OSCARMIKE_ENV": "production", "SECRET_KEY": key})
    message = str(refused.value)
    assert "SECRET_KEY" in message and "32" in message
    assert "secrets.token_hex(32)" in message


def test_production_refuses_the_example_files_placeholder_key(tmp_path):
    from pathlib import Path

    example = Path(__file__).resolve().parent.parent / "deploy" / "oscarmike.env.example"
    line = next(line for line in example.read_text().splitlines() if line.startswith("SECRET_KEY="))
    with pytest.raises(ConfigError, match="secrets.token_hex"):
        from_environment(str(tmp_path), env={"OSCARMIKE_ENV": "production", "SECRET_KEY": line.split("=", 1)[1]})


def test_production_takes_a_secret_key_of_32_characters(tmp_path):
    config = from_environment(str(tmp_path), env={"OSCARMIKE_ENV": "production", "SECRET_KEY": "k" * 32})
    assert config["SECRET_KEY"] == "k" * 32


def test_remember_cookie_is_lax_and_lasts_30_days(tmp_path):
    from datetime import timedelta

    config = from_environment(str(tmp_path), env={"OSCARMIKE_ENV": "production", "SECRET_KEY": "s" * 40})
    assert config["REMEMBER_COOKIE_SAMESITE"] == "Lax"
    assert config["REMEMBER_COOKIE_DURATION"] == timedelta(days=30)


def test_production_sets_secure_cookies(tmp_path):
    config = from_environment(str(tmp_path), env={"OSCARMIKE_ENV": "production", "SECRET_KEY": "s" * 40})
    assert config["SESSION_COOKIE_SECURE"] and config["REMEMBER_COOKIE_SECURE"]
    assert config["SESSION_COOKIE_HTTPONLY"] and config["SESSION_COOKIE_SAMESITE"] == "Lax"


def test_database_url_defaults_to_sqlite_in_instance(tmp_path):
    assert database_url(None, str(tmp_path)) == f"sqlite:///{tmp_path}/oscarmike.db"
    assert database_url("postgres://u@h/db", "x") == "postgresql+psycopg://u@h/db"
    assert database_url("postgresql://u@h/db", "x") == "postgresql+psycopg://u@h/db"


@pytest.mark.parametrize(
    "env, message",
    [
        ({"OSCARMIKE_ENV": "staging"}, "OSCARMIKE_ENV"),
        ({"DEFAULT_TIMEZONE": "Mars/Olympus"}, "DEFAULT_TIMEZONE"),
        ({"DEFAULT_TIMEZONE": "Europe"}, "DEFAULT_TIMEZONE"),
        ({"SMTP_SECURITY": "ssl3"}, "SMTP_SECURITY"),
        ({"SMTP_PORT": "twenty-five"}, "SMTP_PORT"),
    ],
)
def test_bad_settings_are_named(tmp_path, env, message):
    with pytest.raises(ConfigError, match=message):
        from_environment(str(tmp_path), env={"SECRET_KEY": "k", **env})


def test_smtp_port_follows_security(tmp_path):
    assert from_environment(str(tmp_path), env={"SECRET_KEY": "k", "SMTP_SECURITY": "tls"})["SMTP_PORT"] == 465
    assert from_environment(str(tmp_path), env={"SECRET_KEY": "k", "SMTP_SECURITY": "starttls"})["SMTP_PORT"] == 587
