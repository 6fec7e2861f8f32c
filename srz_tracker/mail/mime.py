"""Compose the message every transport hands over: :class:`OutgoingEmail` (what the
outbox wants sent) becomes a MIME message by :func:`build_mime`, and its bytes on the
wire by :func:`wire_bytes`. An address or Message-ID that cannot be used is a
permanent :class:`DeliveryError`: sending the same message again would fail the same way.
"""

from __future__ import annotations

import base64
import datetime as dt
from dataclasses import dataclass
from email import policy as email_policy
from email.headerregistry import Address, ParameterizedMIMEHeader, UnstructuredHeader
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any

from srz_tracker.errors import DeliveryError
from srz_tracker.text import sanitize_header

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@dataclass(frozen=True)
class Attachment:
    filename: str  # shown to the reader; Chinese is fine (RFC 2231-encoded)
    content: bytes
    mime_type: str = XLSX


@dataclass(frozen=True)
class OutgoingEmail:
    message_id: str  # full "<...@...>" given by the caller; used verbatim
    to: list[tuple[str, str | None]]  # (address, display name)
    cc: list[tuple[str, str | None]]
    subject: str
    text: str
    html: str
    date: dt.datetime | None = None  # the Date header; now when None
    attachments: tuple[Attachment, ...] = ()

    @property
    def recipients(self) -> list[str]:
        """Envelope recipients: To then Cc, each address once."""
        seen: dict[str, None] = {}
        for address, _name in [*self.to, *self.cc]:
            clean = sanitize_header(address)
            if clean.lower() not in (a.lower() for a in seen):
                seen[clean] = None
        return list(seen)


def _address(address: str, name: str | None) -> Address:
    address = sanitize_header(address)
    name = sanitize_header(name) if name else ""
    local, _, domain = address.rpartition("@")
    if not local or not domain or any(c.isspace() for c in address):
        raise DeliveryError(f"邮件地址无效：{address!r}", permanent=True)
    try:
        return Address(display_name=name, addr_spec=address)
    except (ValueError, IndexError) as exc:
        raise DeliveryError(f"邮件地址无效：{address!r}（{exc}）", permanent=True) from None


# RFC 2047: an encoded word is at most 75 characters; "=?utf-8?b?" and "?=" take 12.
_WORD_MAX = 75
_WORD_OVERHEAD = len("=?utf-8?b??=")


def encoded_words(text: str, first_room: int, room: int) -> list[str]:
    """``text`` as base64 encoded words, the first at most ``first_room`` characters
    long and the others ``room``; a character is never split between two words, and
    every space is inside a word (whitespace between words is not part of the text).
    Python's own ``email.header.Header`` loses a space where it splits a long value."""
    words: list[str] = []
    chunk = b""
    for char in text:
        data = char.encode("utf-8")
        budget = min(first_room if not words else room, _WORD_MAX) - _WORD_OVERHEAD
        # base64 of n bytes is 4 * ceil(n / 3) characters
        if chunk and 4 * -(-(len(chunk) + len(data)) // 3) > budget:
            words.append(chunk)  # type: ignore[arg-type]
            chunk = b""
        chunk += data
    words.append(chunk)  # type: ignore[arg-type]
    return [f"=?utf-8?b?{base64.b64encode(w).decode('ascii')}?=" for w in words]  # type: ignore[arg-type]


class _WirePolicy(email_policy.EmailPolicy):
    """``email.policy.default`` (lines folded at 78) that folds every address and subject,
    whatever its display name, and encodes Chinese fast.

    The default folder cannot fold one long word: an ASCII display name without spaces
    (or a subject holding one) stayed on a single line, and RFC 5322 allows 998
    characters at most (a server answers ``500 Line too long`` to the whole message). It
    is also slow on Chinese: it re-encodes by shrinking each encoded word one character
    at a time, about half the time of an SMTP delivery. So an address header that has
    non-ASCII text, or that the default folder leaves with a line over 78 characters, is
    written here one address a line, each display name that does not fit as RFC 2047
    encoded words (:func:`encoded_words`, one a line) and its ``<address>`` on a line of
    its own when the last word leaves no room; a subject likewise. Only an address
    longer than a line (up to 254 characters) can make a line longer than 78. Reading
    the message (``msg["To"]``) is unchanged.
    """

    def _fold(self, name: str, value: Any, refold_binary: bool = False) -> str:
        if not hasattr(value, "name") or isinstance(value, ParameterizedMIMEHeader):
            # An attachment's Chinese file name is a MIME parameter: RFC 2231, which the
            # default folder writes; an encoded word there would not be read back.
            return super()._fold(name, value, refold_binary)
        addresses = getattr(value, "addresses", None)
        unstructured = isinstance(value, UnstructuredHeader)
        if str(value).isascii() and "=?" not in str(value):
            folded = super()._fold(name, value, refold_binary)
            if self._fits(folded) or (addresses is None and not unstructured):
                return folded
        lead = f"{name}: "
        if addresses is None:
            return f"{lead}{self._words(str(value), lead)}{self.linesep}"
        parts = [self._address(a, lead if i == 0 else " ") for i, a in enumerate(addresses)]
        return f"{lead}{(',' + self.linesep + ' ').join(parts)}{self.linesep}"

    @property
    def _limit(self) -> int:
        return self.max_line_length or 998

    def _fits(self, folded: str) -> bool:
        return all(len(line) <= self._limit for line in folded.split(self.linesep))

    def _words(self, text: str, lead: str) -> str:
        """``text`` encoded and folded, the first line after ``lead``."""
        words = encoded_words(text, self._limit - len(lead), self._limit - 1)
        return (self.linesep + " ").join(words)

    def _address(self, a: Address, lead: str) -> str:
        """One address as it goes on the wire after ``lead`` (the header's name or the
        continuation space), folded to 78 characters where the address allows it."""
        plain = str(a)
        name = a.display_name
        if not name or (
            name.isascii() and "=?" not in name and len(lead + plain) + 1 <= self._limit
        ):
            return plain
        encoded = self._words(name, lead)
        last = (lead + encoded).split(self.linesep)[-1]
        angle = f"<{a.addr_spec}>"
        # +2: the space before the address and the comma after it
        joiner = " " if len(last) + len(angle) + 2 <= self._limit else self.linesep + " "
        return f"{encoded}{joiner}{angle}"


_WIRE_POLICY = _WirePolicy(max_line_length=78)


def build_mime(email: OutgoingEmail, from_addr: str, from_name: str) -> EmailMessage:
    """The message every transport sends: multipart/alternative (text/plain, text/html),
    UTF-8 (base64), RFC 2047-encoded Chinese subject and display names, addresses always
    present in From/To/Cc, the caller's Message-ID verbatim. Every header value coming
    from data goes through :func:`sanitize_header`, so data can never add a header."""
    msg = EmailMessage(policy=_WIRE_POLICY)
    msg["From"] = _address(from_addr, from_name)
    msg["To"] = [_address(a, n) for a, n in email.to]
    if email.cc:
        msg["Cc"] = [_address(a, n) for a, n in email.cc]
    msg["Subject"] = sanitize_header(email.subject)
    when = email.date or dt.datetime.now(dt.UTC)
    if when.tzinfo is None:
        when = when.astimezone()
    msg["Date"] = format_datetime(when)
    message_id = sanitize_header(email.message_id)
    if not (message_id.startswith("<") and message_id.endswith(">") and "@" in message_id):
        raise DeliveryError(f"Message-ID 格式不正确：{message_id!r}", permanent=True)
    msg["Message-ID"] = message_id
    # Automated reminders: no vacation auto-replies back to the tracker (RFC 3834).
    msg["Auto-Submitted"] = "auto-generated"
    msg["X-Auto-Response-Suppress"] = "All"
    msg.set_content(email.text, subtype="plain", charset="utf-8", cte="base64")
    msg.add_alternative(email.html, subtype="html", charset="utf-8", cte="base64")
    for attachment in email.attachments:
        maintype, _, subtype = attachment.mime_type.partition("/")
        msg.add_attachment(
            attachment.content,
            maintype=maintype,
            subtype=subtype,
            filename=sanitize_header(attachment.filename),
        )
    return msg


def wire_bytes(msg: EmailMessage) -> bytes:
    """The message as SMTP carries it: CRLF line ends."""
    return msg.as_bytes(policy=msg.policy.clone(linesep="\r\n"))
