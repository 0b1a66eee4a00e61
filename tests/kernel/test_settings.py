"""Settings come from TESSERA_* variables and a bad value stops start-up with a clear message."""

from __future__ import annotations

import pytest

from tessera.settings import Settings, SettingsError


def test_defaults_are_the_embedded_sqlite_database() -> None:
    settings = Settings.from_env({})
    assert settings.database_url == "sqlite:///./tessera.db"
    assert settings.backend == "sqlite"
    assert settings.redis_url is None


def test_postgresql_url_is_pinned_to_psycopg_3() -> None:
    settings = Settings.from_env({"TESSERA_DATABASE_URL": "postgresql://u@localhost/db"})
    assert settings.database_url.startswith("postgresql+psycopg://")


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"TESSERA_DATABASE_URL": "not a url"}, "is not a database URL"),
        ({"TESSERA_DATABASE_URL": "mysql://u@h/db"}, "runs on sqlite or postgresql"),
        ({"TESSERA_DATABASE_URL": "postgresql+asyncpg://u@h/db"}, "psycopg 3"),
        ({"TESSERA_REDIS_URL": "localhost:6379"}, "is not a Redis URL"),
        ({"TESSERA_SECRET_KEY": "short"}, "at least 16 characters"),
        ({"TESSERA_ADMIN_EMAIL": "nobody"}, "is not an e-mail address"),
        ({"TESSERA_ADMIN_EMAIL": "a@b.c"}, "must be set together"),
        ({"TESSERA_PORT": "99999"}, "is not a port number"),
        ({"TESSERA_MAX_UPLOAD_MB": "lots"}, "is not a size in megabytes"),
    ],
)
def test_bad_values_name_the_variable_and_the_fix(env: dict[str, str], message: str) -> None:
    with pytest.raises(SettingsError, match=message):
        Settings.from_env(env)


def test_upload_limit_is_read_in_megabytes() -> None:
    assert Settings.from_env({"TESSERA_MAX_UPLOAD_MB": "5"}).max_upload_bytes == 5 * 1024 * 1024


def test_the_demo_is_on_unless_TESSERA_DEMO_is_0_and_its_password_is_read_with_its_length_checked() -> None:
    default = Settings.from_env({})
    assert (default.demo, default.demo_password) == (True, "demo-password-1")
    assert Settings.from_env({"TESSERA_DEMO": "0"}).demo is False
    assert Settings.from_env({"TESSERA_DEMO": "off", "TESSERA_DEMO_PASSWORD": "long-enough"}).demo_password == \
        "long-enough"
    with pytest.raises(SettingsError, match="TESSERA_DEMO='later' is not on or off"):
        Settings.from_env({"TESSERA_DEMO": "later"})
    with pytest.raises(SettingsError, match="TESSERA_DEMO_PASSWORD must be at least 8 characters"):
        Settings.from_env({"TESSERA_DEMO_PASSWORD": "short"})
