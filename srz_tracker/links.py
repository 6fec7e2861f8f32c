"""Signed links: the way into the web pages without a login (DESIGN.md, "Acting without
a login").

A link names what it opens (a purpose: one task's page, the recipient's list of tasks,
a city's page), the id of that thing, the recipient's address and an expiry instant, all
signed with the server's secret (itsdangerous, HMAC-SHA1 over the payload with a salt of
its own). Nothing about a link is stored: every ``srz serve`` worker and the daemon that
writes the emails check and make the same links from the secret alone. The expiry is in
the payload, so ``now`` stays a parameter (tests make expired links without waiting) and
a changed lifetime applies to new links only.

A tampered or malformed token is :class:`LinkInvalid`. An expired one is
:class:`LinkExpired` and still carries what it was signed for, so that the page can
offer to send a fresh link to the same address, and only to it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from dataclasses import dataclass

from itsdangerous import BadSignature, URLSafeSerializer

from srz_tracker.config import Settings
from srz_tracker.errors import SrzError
from srz_tracker.kinds import LinkPurpose

_SALT = "srz-web-link-v1"


class LinkInvalid(SrzError):
    """Not a link this server signed (tampered, truncated, another secret)."""


class LinkExpired(SrzError):
    def __init__(self, link: Link) -> None:
        super().__init__("link expired")
        self.link = link


@dataclass(frozen=True)
class Link:
    purpose: LinkPurpose
    target: int | None  # the task id, the city id, or None ("mine")
    email: str
    expires_at: dt.datetime


class LinkSigner:
    """Makes and checks the links of one server: ``base_url`` + secret + lifetime."""

    def __init__(self, secret: bytes, base_url: str, lifetime_days: int) -> None:
        self._serializer = URLSafeSerializer(secret, salt=_SALT)
        self._csrf_key = hashlib.sha256(b"srz-csrf\0" + secret).digest()
        self.base_url = base_url.rstrip("/")
        self.lifetime = dt.timedelta(days=lifetime_days)

    # making --------------------------------------------------------------------------

    def token(self, purpose: LinkPurpose, target: int | None, email: str, now: dt.datetime) -> str:
        expires = int((now + self.lifetime).timestamp())
        return str(self._serializer.dumps([str(purpose), target, email.lower(), expires]))

    def url(self, purpose: LinkPurpose, target: int | None, email: str, now: dt.datetime) -> str:
        return self.url_for_token(purpose, target, self.token(purpose, target, email, now))

    def url_for_token(self, purpose: LinkPurpose, target: int | None, token: str) -> str:
        return f"{self.base_url}{path_for(purpose, target, token)}"

    def task_url(self, task_id: int, email: str, now: dt.datetime) -> str:
        return self.url(LinkPurpose.TASK, task_id, email, now)

    def mine_url(self, email: str, now: dt.datetime) -> str:
        return self.url(LinkPurpose.MINE, None, email, now)

    def city_url(self, city_id: int, email: str, now: dt.datetime) -> str:
        return self.url(LinkPurpose.CITY, city_id, email, now)

    # checking ------------------------------------------------------------------------

    def check(self, token: str, now: dt.datetime) -> Link:
        """What ``token`` was signed for; LinkInvalid or LinkExpired otherwise."""
        try:
            payload = self._serializer.loads(token)
        except BadSignature:
            raise LinkInvalid("bad signature") from None
        if not (isinstance(payload, list) and len(payload) == 4):
            raise LinkInvalid("bad payload")
        purpose, target, email, expires = payload
        if (
            purpose not in tuple(LinkPurpose)
            or not (target is None or (isinstance(target, int) and not isinstance(target, bool)))
            or not isinstance(email, str)
            or not isinstance(expires, int)
        ):
            raise LinkInvalid("bad payload")
        link = Link(LinkPurpose(purpose), target, email, dt.datetime.fromtimestamp(expires, dt.UTC))
        if now >= link.expires_at:
            raise LinkExpired(link)
        return link

    def check_for(
        self, token: str, purpose: LinkPurpose, target: int | None, now: dt.datetime
    ) -> Link:
        """``check`` and that the link opens exactly this (a task link opens no other
        task, nor a city page)."""
        try:
            link = self.check(token, now)
        except LinkExpired as exc:
            if (exc.link.purpose, exc.link.target) != (purpose, target):
                raise LinkInvalid("link for something else") from None
            raise
        if (link.purpose, link.target) != (purpose, target):
            raise LinkInvalid("link for something else")
        return link

    # forms ---------------------------------------------------------------------------

    def csrf(self, token: str) -> str:
        """The form token of the page a link opens: tied to that link, the same on every
        worker, unknown to anybody without the secret."""
        return hmac.new(self._csrf_key, token.encode(), hashlib.sha256).hexdigest()[:32]

    def csrf_ok(self, token: str, value: str | None) -> bool:
        return bool(value) and hmac.compare_digest(self.csrf(token), value or "")


def path_for(purpose: LinkPurpose, target: int | None, token: str) -> str:
    if purpose == LinkPurpose.TASK:
        return f"/t/{target}/{token}"
    if purpose == LinkPurpose.CITY:
        return f"/c/{target}/{token}"
    return f"/me/{token}"


def link_signer(settings: Settings, *, required: bool = False) -> LinkSigner | None:
    """The signer of these settings; None when no ``web.base_url`` is set (emails then
    carry no links), unless ``required`` (the web server, whose own pages link with
    paths). A base URL without a secret is an error: links cannot be made, and silently
    leaving them out would hide the mistake."""
    web = settings.web
    if not web.base_url and not required:
        return None
    return LinkSigner(web.load_secret(), web.base_url or "", web.link_days)
