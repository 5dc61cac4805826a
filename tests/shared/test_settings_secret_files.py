"""Secret variables given as `NAME_FILE`, the path of a mounted Docker or Kubernetes secret: read through one
helper, refused with one line naming the variable and the file, and never showing what the file holds."""

from __future__ import annotations

from pathlib import Path

import pytest

from authorium_shared.keys import generate_kek, parse_kek
from authorium_shared.settings import (
    SECRET_VARIABLES,
    CommonSettings,
    ConfigError,
    env_raw,
    env_str,
    secrets_read_from_files,
)
from authz.settings import AuthzSettings
from client_demo.settings import ClientDemoSettings

SECRET = "s3cret value that must never be shown"


def _file(tmp_path: Path, content: str | bytes, name: str = "secret") -> str:
    path = tmp_path / name
    if isinstance(content, str):
        path.write_text(content, newline="")
    else:
        path.write_bytes(content)
    return str(path)


def _one_line_error(environ: dict[str, str], name: str) -> str:
    with pytest.raises(ConfigError) as caught:
        env_raw(environ, name)
    message = str(caught.value)
    assert "\n" not in message
    assert SECRET not in message, "the content of a secret file is never shown"
    return message


def test_the_secret_variables_are_the_ones_the_issue_names() -> None:
    assert set(SECRET_VARIABLES) == {
        "AUTHORIUM_KEK",
        "AUTHORIUM_KEK_PREVIOUS",
        "DATABASE_URL",
        "REDIS_URL",
        "AUTHORIUM_CLIENT_DEMO_CLIENT_SECRET",
        "AUTHORIUM_REGISTRATION_TOKEN",
        "AUTHORIUM_DEMO_PASSWORD",
        "AUTHORIUM_ADMIN_CLIENT_SECRET",
        # RFC 9449 section 9: the resource server's DPoP nonces are an HMAC under it.
        "AUTHORIUM_DPOP_NONCE_SECRET",
    }


@pytest.mark.parametrize("name", SECRET_VARIABLES)
def test_every_secret_variable_is_read_from_the_file_its_FILE_variable_names(tmp_path: Path, name: str) -> None:
    assert env_raw({f"{name}_FILE": _file(tmp_path, SECRET + "\n")}, name) == SECRET
    assert env_raw({name: SECRET}, name) == SECRET, "the variable itself still works"


@pytest.mark.parametrize(
    ("content", "value"),
    [
        (" pass word ", " pass word "),  # as written: a file has no surrounding whitespace to forgive
        ("pass word\n", "pass word"),
        ("pass word\r\n", "pass word"),
        ("pass word\n\n", "pass word\n"),  # one trailing newline, the one editors and `echo` add
        ("two\nlines\n", "two\nlines"),
    ],
)
def test_one_trailing_newline_is_stripped_and_nothing_else(tmp_path: Path, content: str, value: str) -> None:
    environ = {"AUTHORIUM_DEMO_PASSWORD_FILE": _file(tmp_path, content)}
    assert env_raw(environ, "AUTHORIUM_DEMO_PASSWORD") == value


def test_an_empty_FILE_variable_counts_as_unset(tmp_path: Path) -> None:
    assert env_raw({"AUTHORIUM_KEK": SECRET, "AUTHORIUM_KEK_FILE": "  "}, "AUTHORIUM_KEK") == SECRET
    assert env_str({"DATABASE_URL_FILE": ""}, "DATABASE_URL", "postgresql://default") == "postgresql://default"


def test_variables_that_are_not_secrets_have_no_FILE_form(tmp_path: Path) -> None:
    environ = {"AUTHORIUM_ISSUER_FILE": _file(tmp_path, "https://auth.example\n")}
    assert env_str(environ, "AUTHORIUM_ISSUER", "http://127.0.0.1:8000") == "http://127.0.0.1:8000"


def test_both_set_is_refused_naming_both(tmp_path: Path) -> None:
    environ = {"AUTHORIUM_KEK": SECRET, "AUTHORIUM_KEK_FILE": _file(tmp_path, SECRET)}
    message = _one_line_error(environ, "AUTHORIUM_KEK")
    assert "AUTHORIUM_KEK and AUTHORIUM_KEK_FILE are both set" in message


def test_a_missing_file_is_refused_naming_the_variable_and_the_path(tmp_path: Path) -> None:
    missing = str(tmp_path / "no-such-secret")
    message = _one_line_error({"REDIS_URL_FILE": missing}, "REDIS_URL")
    assert message.startswith("configuration error: REDIS_URL_FILE names")
    assert missing in message
    assert "No such file or directory" in message


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (b"", "which is empty"),
        (b"\n", "which is empty"),
        (SECRET.encode() + b"\xff\xfe", "which is not UTF-8 text"),
        (SECRET.encode() * 2000, "which is larger than 65536 bytes"),
    ],
)
def test_a_file_that_cannot_be_a_secret_is_refused(tmp_path: Path, content: bytes, problem: str) -> None:
    path = _file(tmp_path, content)
    message = _one_line_error({"AUTHORIUM_REGISTRATION_TOKEN_FILE": path}, "AUTHORIUM_REGISTRATION_TOKEN")
    assert message == f"configuration error: AUTHORIUM_REGISTRATION_TOKEN_FILE names {path!r}, {problem}"


def test_a_directory_is_refused(tmp_path: Path) -> None:
    message = _one_line_error({"AUTHORIUM_KEK_FILE": str(tmp_path)}, "AUTHORIUM_KEK")
    assert f"AUTHORIUM_KEK_FILE names {str(tmp_path)!r}, which cannot be read" in message


def test_the_settings_of_every_service_read_their_secrets_from_files(tmp_path: Path) -> None:
    kek, previous = generate_kek(), generate_kek()
    environ = {
        "DATABASE_URL_FILE": _file(tmp_path, "postgresql://authorium:pw@db.internal/authorium\n", "db"),
        "REDIS_URL_FILE": _file(tmp_path, "rediss://:pw@cache.internal/0\n", "redis"),
        "AUTHORIUM_KEK_FILE": _file(tmp_path, kek + "\n", "kek"),
        "AUTHORIUM_KEK_PREVIOUS_FILE": _file(tmp_path, previous + "\n", "kek-previous"),
        "AUTHORIUM_REGISTRATION_TOKEN_FILE": _file(tmp_path, "t" * 40 + "\n", "registration"),
        "AUTHORIUM_CLIENT_DEMO_CLIENT_ID": "demo",
        "AUTHORIUM_CLIENT_DEMO_CLIENT_SECRET_FILE": _file(tmp_path, SECRET + "\n", "client-secret"),
    }
    common = CommonSettings.from_env(environ)
    assert common.database_url == "postgresql://authorium:pw@db.internal/authorium"
    assert common.redis_url == "rediss://:pw@cache.internal/0"
    authz = AuthzSettings.from_env(environ)
    assert authz.kek.current == parse_kek(kek)
    assert authz.kek.previous == parse_kek(previous)
    assert authz.registration_token == "t" * 40
    assert ClientDemoSettings.from_env(environ).client_secret == SECRET


def test_a_bad_kek_in_a_file_names_the_variable_and_not_the_content(tmp_path: Path) -> None:
    environ = {"AUTHORIUM_KEK_FILE": _file(tmp_path, SECRET + "\n")}
    with pytest.raises(ConfigError) as caught:
        AuthzSettings.from_env(environ)
    assert str(caught.value).startswith("configuration error: AUTHORIUM_KEK ")
    assert SECRET not in str(caught.value)


def test_the_environment_can_be_handed_on_with_the_files_read(tmp_path: Path) -> None:
    # `authorium run` hands its environment to code that reads DATABASE_URL itself, and replaces AUTHORIUM_KEK.
    environ = {
        "DATABASE_URL_FILE": _file(tmp_path, "postgresql://db.internal/x\n"),
        "AUTHORIUM_KEK_FILE": "",
        "AUTHORIUM_ISSUER": "http://127.0.0.1:8000",
    }
    assert secrets_read_from_files(environ) == {
        "DATABASE_URL": "postgresql://db.internal/x",
        "AUTHORIUM_ISSUER": "http://127.0.0.1:8000",
    }
    with pytest.raises(ConfigError, match="REDIS_URL_FILE"):
        secrets_read_from_files({"REDIS_URL_FILE": str(tmp_path / "missing")})
