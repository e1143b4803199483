"""Settings: defaults from the original design, production refusals, variables named in errors."""

from __future__ import annotations

import re
import stat
from pathlib import Path

import pytest

from infrastructure.settings import KNOWN_VARIABLES, RateLimit, SettingsError, load_settings

PRODUCTION = {
    "APP_ENV": "production",
    "DATABASE_URL": "postgresql://rural24:secret@db:5432/rural24",
    "JWT_SECRET": "x" * 48,
    "FRONTEND_URL": "https://rural24.com.ar",
    "EMAIL_URL": "smtps://mailer:secret@smtp.example.com:465",
    "MEDIA_STORAGE_URL": "s3://rural24-media/ads",
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
        ("DATABASE_URL", "postgresql://u:p@db:99999/rural24"),
        ("DB_POOL_TIMEOUT", "-1"),
        ("PORT", "0"),
        ("PORT", "65536"),
        ("HOST", "0.0.0.0 8000"),
        ("REDIS_URL", "http://cache:6379"),
        ("REDIS_URL", "redis://"),
        ("QUEUE_URL", "amqp://queue"),
        ("EMAIL_URL", "smtp://"),
        ("EMAIL_URL", "mailto:ops@rural24.com.ar"),
        ("MEDIA_STORAGE_URL", "./media"),
        ("MEDIA_STORAGE_URL", "ftp://files/media"),
        ("MEDIA_STORAGE_URL", "file://"),
        ("MEDIA_STORAGE_URL", "s3://"),
        ("MEDIA_STORAGE_URL", "s3://bucket/ads?endpoint=minio:9000"),
        ("FRONTEND_URL", "https://"),
        ("ALLOW_LOCAL_MEDIA", "perhaps"),
        ("WORKER_METRICS_PORT", "65536"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://"),
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


@pytest.mark.parametrize("port", ["1", "8000", "65535"])
def test_every_tcp_port_is_accepted(port: str) -> None:
    assert load_settings({"PORT": port}).server.port == int(port)


def test_a_bad_url_is_named_without_repeating_its_password() -> None:
    with pytest.raises(SettingsError) as error:
        load_settings({"EMAIL_URL": "smtp://mailer:hunter2@smtp.example.com:70000"})
    assert str(error.value).startswith("EMAIL_URL is not valid")
    assert "hunter2" not in str(error.value)


@pytest.mark.parametrize(
    "url",
    [
        "file://./media",
        "file:///srv/rural24/media",
        "s3://rural24-media",
        "s3://rural24-media/ads?endpoint=http://127.0.0.1:9000&region=us-east-1&public_url=https://cdn.rural24.com.ar",
    ],
)
def test_media_storage_urls_that_the_storage_understands_load(url: str) -> None:
    assert load_settings({"MEDIA_STORAGE_URL": url}).app.media_storage_url == url


def test_s3_credentials_come_in_pairs() -> None:
    with pytest.raises(SettingsError, match=r"^AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY go together"):
        load_settings({**PRODUCTION, "AWS_ACCESS_KEY_ID": "AKIAEXAMPLE"})
    both = {"AWS_ACCESS_KEY_ID": "AKIAEXAMPLE", "AWS_SECRET_ACCESS_KEY": "s" * 40, "AWS_REGION": "sa-east-1"}
    assert load_settings({**PRODUCTION, **both}).app.media_storage_url == "s3://rural24-media/ads"


@pytest.mark.parametrize("email_url", [None, "console://"])
def test_production_refuses_console_email_unless_allowed(email_url: str | None) -> None:
    environ = {k: v for k, v in PRODUCTION.items() if k != "EMAIL_URL"}
    if email_url is not None:
        environ["EMAIL_URL"] = email_url
    with pytest.raises(SettingsError, match=r"^EMAIL_URL must be smtp:// or smtps:// when APP_ENV=production"):
        load_settings(environ)
    assert load_settings({**environ, "ALLOW_CONSOLE_EMAIL": "true"}).app.email_url == "console://"
    assert load_settings({}).app.email_url == "console://"  # development: console by default


@pytest.mark.parametrize("media_url", [None, "file:///srv/media"])
def test_production_refuses_local_media_unless_allowed(media_url: str | None) -> None:
    environ = {k: v for k, v in PRODUCTION.items() if k != "MEDIA_STORAGE_URL"}
    if media_url is not None:
        environ["MEDIA_STORAGE_URL"] = media_url
    with pytest.raises(SettingsError, match=r"^MEDIA_STORAGE_URL must be s3:// when APP_ENV=production"):
        load_settings(environ)
    allowed = load_settings({**environ, "ALLOW_LOCAL_MEDIA": "true"})
    assert allowed.app.media_storage_url == (media_url or "file://./media")


def test_no_signing_key_lives_in_the_source() -> None:
    source = Path(__file__).parents[2].joinpath("infrastructure", "settings.py").read_text()
    assert "development-only-secret" not in source
    assert not re.search(r"secret\s*=\s*[\"']", source), "a literal signing key in the settings"


def test_development_keeps_one_random_key_per_data_folder(tmp_path: Path) -> None:
    first = {"EMBEDDED_PG_DIR": str(tmp_path / "one" / "postgres")}
    key = load_settings(first).session.jwt_secret
    assert len(key) >= 32
    assert load_settings(first).session.jwt_secret == key  # a restart keeps the sessions
    assert not load_settings(first).session.jwt_secret_is_ephemeral
    key_file = tmp_path / "one" / "jwt-secret"
    assert key_file.read_text().strip() == key
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    other = load_settings({"EMBEDDED_PG_DIR": str(tmp_path / "two" / "postgres")}).session.jwt_secret
    assert other != key  # a random key, not a constant
    assert sorted(p.name for p in (tmp_path / "one").iterdir()) == ["jwt-secret"]  # no candidate left behind


def test_a_development_key_that_cannot_be_kept_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "data").write_text("a file where the data folder should be")
    with pytest.raises(SettingsError) as error:
        load_settings({"EMBEDDED_PG_DIR": str(tmp_path / "data" / "postgres")})
    assert str(error.value).startswith("JWT_SECRET is unset and the development key")
    assert "\n" not in str(error.value)
    (tmp_path / "short").mkdir()
    (tmp_path / "short" / "jwt-secret").write_text("tiny\n")
    with pytest.raises(SettingsError, match="too short"):
        load_settings({"EMBEDDED_PG_DIR": str(tmp_path / "short" / "postgres")})


def test_the_explicit_secret_wins_and_test_mode_keys_are_per_process(tmp_path: Path) -> None:
    data = {"EMBEDDED_PG_DIR": str(tmp_path / "postgres")}
    assert load_settings({**data, "JWT_SECRET": "y" * 40}).session.jwt_secret == "y" * 40
    test_mode = {**data, "APP_ENV": "test"}
    one, two = load_settings(test_mode).session, load_settings(test_mode).session
    assert one.jwt_secret_is_ephemeral
    assert one.jwt_secret != two.jwt_secret
    assert not (tmp_path / "jwt-secret").exists()  # only development keeps a key file


def test_processes_starting_together_agree_on_the_development_key(tmp_path: Path) -> None:
    # granian's workers, the worker and a CLI command may all start on a fresh data folder at once
    from concurrent.futures import ThreadPoolExecutor

    from infrastructure.settings import development_jwt_secret

    with ThreadPoolExecutor(max_workers=8) as pool:
        keys = set(pool.map(lambda _: development_jwt_secret(tmp_path), range(32)))
    assert len(keys) == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == ["jwt-secret"]


def test_a_transaction_pooler_needs_a_direct_url() -> None:
    with pytest.raises(SettingsError) as error:
        load_settings({"DATABASE_URL": "postgresql://u@pooler:6432/r", "DATABASE_POOLER": "transaction"})
    assert str(error.value).startswith("DATABASE_POOLER=transaction needs DATABASE_DIRECT_URL")
    settings = load_settings(
        {
            "DATABASE_URL": "postgresql://u@pooler:6432/r",
            "DATABASE_POOLER": "transaction",
            "DATABASE_DIRECT_URL": "postgresql://u@primary:5432/r",
        }
    )
    assert (settings.db.pooler, settings.db.direct_url) == ("transaction", "postgresql://u@primary:5432/r")
    assert load_settings({}).db.pooler == "none"
    with pytest.raises(SettingsError, match="DATABASE_POOLER"):
        load_settings({"DATABASE_POOLER": "session"})
