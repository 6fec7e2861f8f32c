"""Mail headers are folded for any display name: emails built from the longest names the
directory allows (ASCII and Chinese, 20 recipients in To and 20 in Cc) go through the
real yagmail SMTP transport to the loopback server, are parsed back with ``email``, and
every line is at most 998 characters (78 in the headers, unless one address alone is
longer) while every name and the subject come back exactly.

Names are read back with ``email.header.decode_header``, the standard library's RFC 2047
decoder: ``email.policy.default`` puts a space between two adjacent encoded words of a
display name (RFC 2047 6.2 says to drop it), so it shows a name longer than one encoded
word (15 Chinese characters) with an extra space. Mail clients follow the RFC.
"""

from __future__ import annotations

import email
import email.policy
from email.header import decode_header, make_header
from email.utils import getaddresses

import pytest

from srz_tracker import limits
from srz_tracker.config import SmtpSettings
from srz_tracker.mail.mime import OutgoingEmail, build_mime, wire_bytes
from srz_tracker.mail.transports import SmtpTransport
from tests.smtp_server import SmtpTestServer

FROM = "srz-tracker@example.org"
NAME_MAX = limits.CONTACT_NAME.max_length

# The longest names a directory may hold, of every shape: Chinese, ASCII with and
# without spaces, with the characters an address header must quote or escape.
LONGEST_NAMES = [
    "王" * NAME_MAX,
    ("南宁市农业农村局（质量安全监管科）" * 4)[:NAME_MAX],
    "A" * NAME_MAX,
    ("Zhang San " * 7)[: NAME_MAX - 1] + "Z",
    ('Li, "Si" (Office) <x@y> ; \\ ' * 3)[: NAME_MAX - 1] + "X",
    ("Wang 芳 =?utf-8?q?x?= " * 4)[: NAME_MAX - 1] + "末",
]
LONG_ADDRESS = "a" * 64 + "@" + ".".join(["d" * 61] * 3) + ".cn"  # 254 characters


def _recipients(prefix: str) -> list[tuple[str, str | None]]:
    return [
        (f"{prefix}{i:02d}@nn-nyncj.example.cn", LONGEST_NAMES[i % len(LONGEST_NAMES)])
        for i in range(20)
    ]


def _longest_email() -> OutgoingEmail:
    to = _recipients("to")
    to[7] = (LONG_ADDRESS, "王" * NAME_MAX)
    subject = (
        "【"
        + "双" * limits.SHORT_TITLE.max_length
        + "·到期提醒】南宁市："
        + ("报送“双认证”工作总结 and self-assessment report " * 8)[
            : limits.OBLIGATION_TITLE.max_length
        ]
    )
    return OutgoingEmail(
        message_id="<srz.1.0123456789abcdef0123@example.org>",
        to=to,
        cc=_recipients("cc"),
        subject=subject,
        text="正文\n",
        html="<p>正文</p>",
    )


def _names(raw: bytes, header: str) -> list[tuple[str, str]]:
    """(display name, address) of every address of ``header``, names RFC 2047-decoded."""
    msg = email.message_from_bytes(raw, policy=email.policy.compat32)
    pairs = getaddresses(msg.get_all(header, []))
    return [(str(make_header(decode_header(name))), address) for name, address in pairs]


def _head(raw: bytes) -> list[bytes]:
    return raw.split(b"\r\n\r\n", 1)[0].split(b"\r\n")


def test_longest_names_fold_and_come_back_exactly_over_smtp(
    smtp_server: SmtpTestServer,
) -> None:
    outgoing = _longest_email()
    settings = SmtpSettings(
        host=smtp_server.host, port=smtp_server.port, security="none", timeout_seconds=5
    )
    with SmtpTransport(settings, FROM, "自治区农业农村厅" * 8) as transport:
        result = transport.send(outgoing)
    assert result.refused == {}
    [received] = smtp_server.messages
    assert len(received.rcpt_tos) == 40 and LONG_ADDRESS in received.rcpt_tos

    raw = received.raw
    assert max(len(line) for line in raw.split(b"\r\n")) <= 998
    for line in _head(raw):
        assert len(line) <= 78 or LONG_ADDRESS.encode() in line, line
    _head(raw)[0].decode("ascii")  # headers are plain ASCII on the wire

    assert _names(raw, "To") == [(n or "", a) for a, n in outgoing.to]
    assert _names(raw, "Cc") == [(n or "", a) for a, n in outgoing.cc]
    assert _names(raw, "From") == [("自治区农业农村厅" * 8, FROM)]
    assert received.message["Subject"] == outgoing.subject
    # policy.default reads every address too, with the addresses intact.
    parsed = received.message
    assert [a.addr_spec for a in parsed["To"].addresses] == [a for a, _ in outgoing.to]
    assert [a.addr_spec for a in parsed["Cc"].addresses] == [a for a, _ in outgoing.cc]


@pytest.mark.parametrize(
    "to",
    [
        # What the hostile test did: a 5000-character ASCII name (no longer importable,
        # still folded if it ever reaches the composer), alone or beside a Chinese name.
        [("long@example.org", "A" * 5000)],
        [("zh@example.org", "张三"), ("long@example.org", "Bob Smith " * 200)],
        [("zh@example.org", "张三"), ("long@example.org", "B" * 3000), ("c@example.org", None)],
    ],
)
def test_any_display_name_is_folded(to: list[tuple[str, str | None]]) -> None:
    outgoing = OutgoingEmail("<srz.2.x@example.org>", to, [], "s" * 500, "t", "<p>h</p>")
    raw = wire_bytes(build_mime(outgoing, FROM, "办公室"))
    assert max(len(line) for line in _head(raw)) <= 78
    expected = [(" ".join((n or "").split()), a) for a, n in to]
    assert [(" ".join(n.split()), a) for n, a in _names(raw, "To")] == expected
    assert email.message_from_bytes(raw, policy=email.policy.default)["Subject"] == "s" * 500


def test_short_names_read_back_exactly_with_the_default_policy_too() -> None:
    """A name that fits one encoded word (up to 15 Chinese characters) is one word, so
    even ``email.policy.default`` shows it exactly; a short ASCII name stays readable."""
    to = [("a@example.org", "王" * 15), ("b@example.org", "Zhang San"), ("c@example.org", "李明")]
    raw = wire_bytes(
        build_mime(OutgoingEmail("<srz.3.x@example.org>", to, [], "s", "t", "h"), FROM, "办")
    )
    msg = email.message_from_bytes(raw, policy=email.policy.default)
    assert [(a.display_name, a.addr_spec) for a in msg["To"].addresses] == [(n, a) for a, n in to]
    assert b"To: =?utf-8?b?" in raw and b"Zhang San <b@example.org>" in raw
