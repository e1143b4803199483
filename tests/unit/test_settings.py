"""Settings: defaults from the original design, production refusals, variables named in errors."""

from __future__ import annotations

import pytest

from infrastructure.settings import KNOWN_VARIABLES, RateLimit, SettingsError, load_settings

PRODUCTION = {
    "APP_ENV": "production",
    "DATABASE_URL": "postgresql://rural24:secret@db:5432/rural24",
    "JWT_SECRET": "x" * 48,
    "FRONTEND_URL": "https://rural24.com.ar",
}


def test_defaults_follow_the_original_design() -> None:
    settings = load_settings({})
    assert settings.app.env == "development"
    assert settings.session.ttl == 7 * 86400
    assert settings.rate_limits.api == RateLimit(120, "minute")
    assert settings.rate_limits.messages == RateLimit(30, "minute")
    assert settings.cache.categories_ttl == 3600
    assert settings.cache.search_ttl == 300
    assert settings.app.ad_ttl_days == 30
    assert settings.db.url is None
    assert settings.db.embedded
    assert settings.redis.enabled is False
    assert settings.server.max_json_body == 64 * 1024
    assert settings.server.host == "127.0.0.1"  # a development box serves only itself


def test_production_needs_a_database_url() -> None:
    with pytest.raises(SettingsError, match="DATABASE_URL"):
        load_settings({**PRODUCTION, "DATABASE_URL": ""})


@pytest.mark.parametrize("secret", [None, "short"])
def test_production_needs_a_long_jwt_secret(secret: str | None) -> None:
    environ = {**PRODUCTION}
    if secret is None:
        del environ["JWT_SECRET"]
    else:
        environ["JWT_SECRET"] = secret
    with pytest.raises(SettingsError, match="JWT_SECRET"):
        load_settings(environ)


def test_production_with_everything_set_loads() -> None:
    settings = load_settings(PRODUCTION)
    assert settings.app.is_production
    assert settings.server.host == "0.0.0.0"  # a container listens on every interface
    assert settings.session.jwt_secret == "x" * 48
    assert not settings.session.jwt_secret_is_ephemeral


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DB_POOL_SIZE", "abc"),
        ("DB_POOL_SIZE", "0"),
        ("PORT", "eighty"),
        ("REDIS_ENABLED", "maybe"),
        ("SESSION_TTL", "forever"),
        ("RATE_LIMIT_API", "120 per minute"),
        ("APP_ENV", "staging"),
        ("SESSION_STRATEGY", "cookies"),
        ("DATABASE_URL", "mysql://db/rural24"),
        ("DB_POOL_TIMEOUT", "-1"),
    ],
)
def test_a_malformed_value_names_its_variable(name: str, value: str) -> None:
    with pytest.raises(SettingsError) as error:
        load_settings({name: value})
    message = str(error.value)
    assert message.startswith(name)
    assert "\n" not in message


def test_durations_and_rates_accept_readable_forms() -> None:
    settings = load_settings(
        {"SESSION_TTL": "12h", "CACHE_TTL_SEARCH": "90", "RATE_LIMIT_SEARCH": "30/min", "RATE_LIMIT_LOGIN": "5/h"}
    )
    assert settings.session.ttl == 12 * 3600
    assert settings.cache.search_ttl == 90
    assert settings.rate_limits.search == RateLimit(30, "minute")
    assert settings.rate_limits.login == RateLimit(5, "hour")
    assert settings.rate_limits.login.seconds == 3600


def test_redis_sessions_need_redis() -> None:
    with pytest.raises(SettingsError, match="SESSION_STRATEGY"):
        load_settings({"SESSION_STRATEGY": "redis"})
    settings = load_settings({"SESSION_STRATEGY": "redis", "REDIS_ENABLED": "true"})
    assert settings.session.strategy == "redis"


def test_frontend_urls_are_a_list_of_origins() -> None:
    settings = load_settings({"FRONTEND_URL": "https://rural24.com.ar/, https://www.rural24.com.ar"})
    assert settings.app.frontend_urls == ("https://rural24.com.ar", "https://www.rural24.com.ar")


def test_every_variable_read_is_documented() -> None:
    import re
    from pathlib import Path

    source = Path(__file__).parents[2].joinpath("infrastructure", "settings.py").read_text()
    read = set(re.findall(r'env\.\w+\(\s*"([A-Z_]+)"', source))
    assert read, "the loader reads no variable?"
    assert read <= set(KNOWN_VARIABLES), read - set(KNOWN_VARIABLES)


def test_the_readme_documents_every_setting() -> None:
    from pathlib import Path

    readme = Path(__file__).parents[2].joinpath("README.md").read_text()
    missing = [name for name in KNOWN_VARIABLES if f"| `{name}` |" not in readme]
    assert missing == []


def test_production_needs_a_frontend_url_for_the_links_in_account_emails() -> None:
    without = {k: v for k, v in PRODUCTION.items() if k != "FRONTEND_URL"}
    with pytest.raises(SettingsError, match="FRONTEND_URL is required"):
        load_settings(without)
    with pytest.raises(SettingsError, match="FRONTEND_URL is not valid"):
        load_settings({**PRODUCTION, "FRONTEND_URL": "rural24.com.ar"})
    settings = load_settings({**PRODUCTION, "FRONTEND_URL": "https://rural24.com.ar/, https://www.rural24.com.ar"})
    assert settings.app.frontend_base == "https://rural24.com.ar"


def test_email_verification_is_required_in_production_only_by_default() -> None:
    assert load_settings(PRODUCTION).app.require_email_verification is True
    assert load_settings({}).app.require_email_verification is False
    assert load_settings({"REQUIRE_EMAIL_VERIFICATION": "true"}).app.require_email_verification is True
    assert load_settings({**PRODUCTION, "REQUIRE_EMAIL_VERIFICATION": "false"}).app.require_email_verification is False
    with pytest.raises(SettingsError, match="REQUIRE_EMAIL_VERIFICATION"):
        load_settings({"REQUIRE_EMAIL_VERIFICATION": "maybe"})
