"""From the rows of one message to what the transport sends: template kind, rendered
parts and attachments, within the size a mailbox takes.

- a plan year's closing summary: its context and the year's report as XLSX
  (``notify.closing``, which needs the report: ``mail`` may not import it);
- a digest or weekly summary longer than its limit: the most urgent items in full and
  the whole list as XLSX (``mail.attachments``);
- a message over ``MAX_EMAIL_BYTES`` once encoded is composed again listing fewer items
  in full (halving), so no email is refused or truncated by a mail server.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from srz_tracker.kinds import NotificationKind
from srz_tracker.links import LinkSigner
from srz_tracker.mail.attachments import items_workbook
from srz_tracker.mail.context import MessagePlan, message_context
from srz_tracker.mail.mime import Attachment
from srz_tracker.mail.render import RenderedEmail, Renderer
from srz_tracker.store.models import Task

log = logging.getLogger(__name__)

MAX_EMAIL_BYTES = 256 * 1024
_HEADROOM = 8 * 1024  # headers, MIME boundaries and part headers


@dataclass(frozen=True)
class Composed:
    kind: str
    rendered: RenderedEmail
    attachments: tuple[Attachment, ...] = ()

    @property
    def wire_size(self) -> int:
        """About the size on the wire: every part base64-encoded (76 columns + CRLF)."""
        parts = [self.rendered.text.encode(), self.rendered.html.encode()]
        parts += [a.content for a in self.attachments]
        return _HEADROOM + sum((len(p) + 56) // 57 * 78 for p in parts)


class RenderFailed(Exception):
    """A template could not render this message (a bug in the templates, not in the data
    store): the caller fails its rows instead of stopping the pass."""

    def __init__(self, kind: str, cause: Exception) -> None:
        super().__init__(str(cause))
        self.kind = kind


def _render(renderer: Renderer, kind: str, context: dict[str, Any]) -> RenderedEmail:
    try:
        return renderer.render(kind, context)
    except Exception as exc:
        raise RenderFailed(kind, exc) from exc


def compose(
    session: Session,
    plan: MessagePlan,
    tasks: dict[int, Task],
    now: dt.datetime,
    renderer: Renderer,
    max_items: int | None = None,
    links: LinkSigner | None = None,
) -> Composed:
    """The message for ``plan``'s rows. Context errors propagate; template errors raise
    :class:`RenderFailed`."""
    first = plan.rows[0]
    if first.kind == NotificationKind.YEAR_CLOSED:
        from srz_tracker.notify.closing import summary_context

        context, attachments = summary_context(session, first, now)
        kind = NotificationKind.YEAR_CLOSED.value
        return Composed(kind, _render(renderer, kind, context), attachments)
    limit = max_items
    rows: int | None = None  # workbook rows, cut only if the list alone is too big
    while True:
        kind, context = message_context(session, plan, tasks, now, links, limit)
        composed = Composed(
            kind, _render(renderer, kind, context), _list_attachments(context, rows)
        )
        if composed.wire_size <= MAX_EMAIL_BYTES:
            return composed
        listed = _listed(kind, context)
        if listed > 1:
            limit = listed // 2
            continue
        whole = len(_all_items(context))
        if composed.attachments and (rows is None or rows > 1):
            rows = (rows or whole) // 2
            continue
        log.warning(
            "message %s is %d bytes even at its shortest", plan.message_id, composed.wire_size
        )
        return composed


def _all_items(context: dict[str, Any]) -> list[dict[str, Any]]:
    if context["kind"] == NotificationKind.WEEKLY_SUMMARY:
        return list(context["open_items"])
    return list(context.get("all_items") or [])


def _listed(kind: str, context: dict[str, Any]) -> int:
    """Items listed in full: per list for a weekly summary, in all for a digest."""
    if kind == NotificationKind.WEEKLY_SUMMARY:
        longest = max(len(context["overdue"]), len(context["due_soon"]))
        return min(context["shown_max"], longest)
    return len(context["items"]) if kind == "digest" else 0


def _list_attachments(context: dict[str, Any], rows: int | None) -> tuple[Attachment, ...]:
    name = context.get("attachment_name")
    if not name:
        return ()
    title = name.removesuffix(".xlsx")
    if context["kind"] == NotificationKind.WEEKLY_SUMMARY:
        title = f"{context['city']} {title}"
    return (Attachment(name, items_workbook(_all_items(context), title, rows)),)
