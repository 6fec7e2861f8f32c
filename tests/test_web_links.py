"""Signed links (no database): what they bind, tampering, expiry with ``now`` a parameter,
form tokens; the ``[web]`` settings and the secret that is never shown."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from srz_tracker.config import load_settings
from srz_tracker.errors import ConfigError
from srz_tracker.kinds import LinkPurpose
from srz_tracker.links import LinkExpired, LinkInvalid, LinkSigner, link_signer

NOW = dt.datetime(2023, 12, 25, 2, 0, tzinfo=dt.UTC)
SIGNER = LinkSigner(b"0123456789abcdef0123456789abcdef", "https://srz.example.cn", 60)


def test_a_link_binds_purpose_target_and_recipient() -> None:
    token = SIGNER.token(LinkPurpose.TASK, 77, "Wang@Example.cn", NOW)
    link = SIGNER.check_for(token, LinkPurpose.TASK, 77, NOW)
    assert (link.purpose, link.target, link.email) == (LinkPurpose.TASK, 77, "wang@example.cn")
    assert link.expires_at == NOW + dt.timedelta(days=60)
    with pytest.raises(LinkInvalid):
        SIGNER.check_for(token, LinkPurpose.TASK, 78, NOW)  # another task's id
    with pytest.raises(LinkInvalid):
        SIGNER.check_for(token, LinkPurpose.CITY, 77, NOW)  # another purpose
    url = SIGNER.task_url(77, "wang@example.cn", NOW)
    assert url.startswith("https://srz.example.cn/t/77/")
    assert SIGNER.mine_url("a@b.cn", NOW).startswith("https://srz.example.cn/me/")
    assert SIGNER.city_url(3, "a@b.cn", NOW).startswith("https://srz.example.cn/c/3/")


def test_tampered_and_foreign_tokens_are_invalid() -> None:
    token = SIGNER.token(LinkPurpose.TASK, 77, "a@b.cn", NOW)
    payload, signature = token.rsplit(".", 1)
    other = LinkSigner(b"another-secret-another-secret!!!", "https://x", 60)
    for bad in (
        payload + "." + signature[::-1],
        payload[:-2] + "." + signature,
        other.token(LinkPurpose.TASK, 77, "a@b.cn", NOW),
        "",
        "not-a-token",
    ):
        with pytest.raises(LinkInvalid):
            SIGNER.check(bad, NOW)


def test_an_expired_link_still_says_what_it_was_for() -> None:
    token = SIGNER.token(LinkPurpose.TASK, 77, "a@b.cn", NOW)
    assert SIGNER.check(token, NOW + dt.timedelta(days=59, hours=23)).target == 77
    with pytest.raises(LinkExpired) as caught:
        SIGNER.check(token, NOW + dt.timedelta(days=60))
    assert (caught.value.link.target, caught.value.link.email) == (77, "a@b.cn")
    with pytest.raises(LinkInvalid):  # expired and for something else: just invalid
        SIGNER.check_for(token, LinkPurpose.TASK, 78, NOW + dt.timedelta(days=61))


def test_form_tokens_are_tied_to_the_link() -> None:
    one = SIGNER.token(LinkPurpose.TASK, 1, "a@b.cn", NOW)
    two = SIGNER.token(LinkPurpose.TASK, 2, "a@b.cn", NOW)
    assert SIGNER.csrf_ok(one, SIGNER.csrf(one))
    assert not SIGNER.csrf_ok(one, SIGNER.csrf(two))
    assert not SIGNER.csrf_ok(one, None) and not SIGNER.csrf_ok(one, "")
    # The same on every worker: nothing but the secret behind it.
    again = LinkSigner(b"0123456789abcdef0123456789abcdef", "https://other", 5)
    assert again.csrf(one) == SIGNER.csrf(one)


def test_web_settings(tmp_path: Path) -> None:
    secret_file = tmp_path / "secret"
    secret_file.write_text("s3cret-from-a-file-0123456789\n")
    config = tmp_path / "srz.toml"
    config.write_text(
        f'[web]\nbase_url = "https://srz.example.cn/"\nsecret_file = "{secret_file}"\n'
        "link_days = 30\nmax_upload_mb = 5\n"
    )
    settings = load_settings(config_path=config, environ={})
    assert settings.web.base_url == "https://srz.example.cn"
    assert (settings.web.link_days, settings.web.max_upload_mb) == (30, 5)
    signer = link_signer(settings)
    assert signer is not None and signer.lifetime == dt.timedelta(days=30)
    described = str(settings.describe())
    assert "s3cret" not in described and "s3cret" not in repr(settings)
    env = {"SRZ_WEB_SECRET": "env-secret-0123456789", "SRZ_WEB_BASE_URL": "http://h:1"}
    from_env = load_settings(config_path=config, environ=env)
    assert from_env.web.load_secret() == b"env-secret-0123456789"
    assert from_env.web.base_url == "http://h:1"


def test_links_need_a_secret_and_emails_need_a_base_url(tmp_path: Path) -> None:
    nothing = load_settings(environ={"SRZ_CONFIG": ""})
    assert link_signer(nothing) is None  # no base URL: emails as today
    with pytest.raises(ConfigError, match="SRZ_WEB_SECRET"):
        link_signer(nothing, required=True)  # the server refuses to start
    no_secret = load_settings(environ={"SRZ_WEB_BASE_URL": "https://srz.example.cn"})
    with pytest.raises(ConfigError, match="SRZ_WEB_SECRET"):
        link_signer(no_secret)
    config = tmp_path / "srz.toml"
    config.write_text('[web]\nbase_url = "ftp://nope"\n')
    with pytest.raises(ConfigError, match=r"web\.base_url"):
        load_settings(config_path=config, environ={})
    config.write_text("[web]\nmax_upload_mb = 0\n")
    with pytest.raises(ConfigError, match=r"web\.max_upload_mb"):
        load_settings(config_path=config, environ={})
    config.write_text("[web]\nsurprise = 1\n")
    with pytest.raises(ConfigError, match=r"web\.surprise"):
        load_settings(config_path=config, environ={})
