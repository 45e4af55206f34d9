"""Settings.from_env: every malformed or missing variable fails loudly, secrets never leak."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from core.logs import secrets_of
from core.settings import Settings, SettingsError
from tests.conftest import ROOT
from tests.support.settings import HUB_SECRET, VALID

REQUIRED = list(VALID)


def env(**changes: str | None) -> dict[str, str]:
    """VALID with some variables replaced; None removes one."""
    out = {**VALID, **changes}
    return {k: v for k, v in out.items() if v is not None}


@pytest.mark.parametrize(
    ("environ", "fragment"),
    [
        *[(env(**{name: None}), f"{name} is missing") for name in REQUIRED],
        (env(DATABASE_URL="mysql://u:p@h/db"), "DATABASE_URL must start with postgres://"),
        (env(REDIS_URL="localhost:6379"), "REDIS_URL must start with redis://"),
        (env(HUB_WEBHOOK_URL="hub.example.com/hook"), "HUB_WEBHOOK_URL must start with http://"),
        (
            env(HUB_WEBHOOK_SECRET="MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
            "HUB_WEBHOOK_SECRET must be whsec_",
        ),
        (env(HUB_WEBHOOK_SECRET="whsec_not*base64!"), "HUB_WEBHOOK_SECRET must be whsec_"),
        (env(HUB_WEBHOOK_SECRET="whsec_c2hvcnQ="), "at least 16 bytes"),
        (env(WHATSAPP_PHONE_NUMBER_ID="+1 555 0100"), "WHATSAPP_PHONE_NUMBER_ID must be digits"),
        (
            env(WHATSAPP_PHONE_NUMBER_ID="111,222,111"),
            "WHATSAPP_PHONE_NUMBER_ID names a number twice",
        ),
        (env(WHATSAPP_PHONE_NUMBER_ID=" , "), "WHATSAPP_PHONE_NUMBER_ID has no values"),
        (env(SEND_RATE_PER_S_999="10"), "SEND_RATE_PER_S_999 names a number not in"),
        (
            env(SEND_RATE_PER_S_106540352242922="5000"),
            "SEND_RATE_PER_S_106540352242922 must be between 0.1 and 1000",
        ),
        (env(WHATSAPP_ACCESS_TOKEN_123="t"), "WHATSAPP_ACCESS_TOKEN_123 names a number not in"),
        (env(PORT="0"), "PORT must be between 1 and 65535"),
        (env(PORT="70000"), "PORT must be between 1 and 65535"),
        (env(PORT="abc"), "PORT must be a whole number"),
        (env(WHATSAPP_API_VERSION="26"), "WHATSAPP_API_VERSION must look like v26.0"),
        (env(WHATSAPP_BUSINESS_ACCOUNT_ID="waba-1"), "WHATSAPP_BUSINESS_ACCOUNT_ID must be digits"),
        (env(PUBLIC_HOST="https://api.example.com"), "PUBLIC_HOST must be a host name"),
        (env(PUBLIC_HOST="good.example@evil.example"), "PUBLIC_HOST must be a host name"),
        (env(PUBLIC_HOST="api.example.com/path"), "PUBLIC_HOST must be a host name"),
        (env(ALLOWED_HOSTS="api.example.com,https://x.example"), "ALLOWED_HOSTS must be host"),
        (env(ALLOWED_HOSTS="api.example.com:443"), "ALLOWED_HOSTS must be host names"),
        (env(ALLOWED_HOSTS="*.example.com"), "ALLOWED_HOSTS must be host names"),
        (env(WEBHOOK_MAX_BODY_BYTES="1000"), "WEBHOOK_MAX_BODY_BYTES must be between"),
        (env(RETENTION_DAYS="3"), "RETENTION_DAYS must be 0 (off) or between 7 and 36500"),
        (env(RETENTION_DAYS="-1"), "RETENTION_DAYS must be between 0 and 36500"),
    ],
    ids=[
        *[f"missing-{name}" for name in REQUIRED],
        "database-url-scheme",
        "redis-url-scheme",
        "hub-url-scheme",
        "hub-secret-no-prefix",
        "hub-secret-bad-base64",
        "hub-secret-too-short",
        "phone-number-id-not-digits",
        "phone-number-id-twice",
        "phone-number-id-empty-list",
        "rate-override-of-unknown-number",
        "rate-override-out-of-range",
        "token-override-of-unknown-number",
        "port-zero",
        "port-too-high",
        "port-not-a-number",
        "api-version-without-v",
        "waba-id-not-digits",
        "public-host-with-scheme",
        "public-host-with-user-info",
        "public-host-with-path",
        "allowed-hosts-with-scheme",
        "allowed-hosts-with-port",
        "allowed-hosts-star-dot",
        "webhook-cap-too-small",
        "retention-shorter-than-meta-retries",
        "retention-negative",
    ],
)
def test_bad_environment_raises_settings_error_naming_the_variable(
    environ: dict[str, str], fragment: str
) -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env(environ)
    assert fragment in str(caught.value)


def test_empty_variable_counts_as_missing() -> None:
    with pytest.raises(SettingsError, match="WHATSAPP_ACCESS_TOKEN is missing"):
        Settings.from_env(env(WHATSAPP_ACCESS_TOKEN="  "))


def test_valid_environment_parses_with_defaults() -> None:
    s = Settings.from_env(VALID)
    assert s.port == 8000
    assert s.whatsapp_api_base_url == "https://graph.facebook.com"
    assert s.whatsapp_api_version == "v26.0"
    assert s.api_keys == (("default", "api-key-one"),)
    assert s.health_check_tokens == ()
    assert s.whatsapp_business_account_id == ""  # no template catalog, nothing checked
    assert s.phone_number_ids == ("106540352242922",)
    assert s.numbers.default.messages_url == (
        "https://graph.facebook.com/v26.0/106540352242922/messages"
    )
    assert (s.public_host, s.allowed_hosts) == ("", ())  # any host; no redirect target
    assert s.webhook_max_body_bytes == 4 * 1024 * 1024


def test_hosts_are_lower_case_and_leading_dots_kept() -> None:
    s = Settings.from_env(
        env(
            PUBLIC_HOST="Messaging.Example.com:8443",
            ALLOWED_HOSTS=" API.example.com, .Example.ORG ,*",
        )
    )
    assert s.public_host == "messaging.example.com:8443"
    assert s.allowed_hosts == ("api.example.com", ".example.org", "*")


def test_several_numbers_each_with_its_rate_and_token_or_the_shared_ones() -> None:
    s = Settings.from_env(
        env(
            WHATSAPP_PHONE_NUMBER_ID=" 111, 222 ,333",
            SEND_RATE_PER_S="80",
            SEND_RATE_PER_S_222="1000",
            WHATSAPP_ACCESS_TOKEN_333="EAAG-own-token-of-333",
            WHATSAPP_ACCESS_TOKEN_FILE="/not/a/number",  # not a number: not an override
            SEND_RATE_PER_S_111="",  # empty counts as unset
        )
    )
    assert s.phone_number_ids == ("111", "222", "333")
    assert s.phone_number_id == "111"  # the default
    assert [n.rate_per_s for n in s.numbers] == [80, 1000, 80]
    assert [n.token for n in s.numbers] == [
        "EAAG-access-token-789",
        "EAAG-access-token-789",
        "EAAG-own-token-of-333",
    ]
    assert "EAAG-own-token-of-333" not in repr(s) + repr(s.numbers)
    assert "EAAG-own-token-of-333" in secrets_of(s)


def test_comma_separated_keys_and_tokens_become_tuples() -> None:
    s = Settings.from_env(
        env(MESSAGING_SERVICE_API_KEY=" key-a, key-b ,", HEALTH_CHECK_TOKENS="probe-1,probe-2")
    )
    assert [k.key for k in s.api_keys] == ["key-a", "key-b"]
    assert s.health_check_tokens == ("probe-1", "probe-2")


def test_repr_contains_no_secret_value() -> None:
    s = Settings.from_env(
        env(HEALTH_CHECK_TOKENS="health-token-ghi", SECRET_KEY="django-secret-jkl")
    )
    text = repr(s)
    secrets = [
        "EAAG-access-token-789",
        "app-secret-def",
        "api-key-one",
        "verify-token-abc",
        HUB_SECRET,
        HUB_SECRET.removeprefix("whsec_"),
        "pg-password-123",
        "redis-password-456",
        "health-token-ghi",
        "django-secret-jkl",
    ]
    assert [value for value in secrets if value in text] == []
    assert "106540352242922" in text  # not a secret: the repr is still useful


@pytest.mark.slow
@pytest.mark.parametrize("module", ["server", "consumers"], ids=["web", "worker"])
def test_entry_point_with_empty_environment_exits_with_one_config_line(module: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", module],
        cwd=ROOT,
        env={"PATH": os.environ["PATH"]},
        capture_output=True,
        text=True,
        timeout=15,
    )
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode != 0
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("config error: ")
    assert "DATABASE_URL" in lines[0]
    assert "Traceback" not in proc.stderr


# Each process requires only what it reads; the other's secrets may be left unset.
ONLY = {
    "web": ("MESSAGING_SERVICE_API_KEY", "WHATSAPP_VERIFY_TOKEN", "WHATSAPP_APP_SECRET"),
    "worker": ("HUB_WEBHOOK_URL", "HUB_WEBHOOK_SECRET"),
}


@pytest.mark.parametrize("process", ["web", "worker"])
def test_each_process_requires_only_what_it_reads(process: str) -> None:
    other = next(p for p in ONLY if p != process)
    without_others = {k: v for k, v in VALID.items() if k not in ONLY[other]}
    s = Settings.from_env(without_others, process=process)
    absent = {
        "web": ("hub_webhook_url", "hub_webhook_secret"),
        "worker": ("api_keys", "app_secret"),
    }
    assert [getattr(s, f) for f in absent[process]] in (["", ""], [(), ""])
    for name in ONLY[process]:  # its own stay required, by name
        with pytest.raises(SettingsError, match=name):
            Settings.from_env(
                {k: v for k, v in without_others.items() if k != name}, process=process
            )
    with pytest.raises(SettingsError, match="|".join(ONLY[other])):
        Settings.from_env(without_others)  # no process named: everything is required


def test_secret_key_is_accepted_and_ignored_with_a_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    s = Settings.from_env(env(SECRET_KEY="django-secret-jkl"))
    assert "SECRET_KEY is set but unused" in caplog.text
    assert not hasattr(s, "secret_key")
