"""What handing a message over can tell besides "sent": some recipients refused
(:class:`SendResult`), or the message itself refused (:class:`MessageRejected`). The
error contract of every transport is in :mod:`srz_tracker.mail.transports`."""

from __future__ import annotations

from dataclasses import dataclass, field

from srz_tracker.errors import DeliveryError


@dataclass
class SendResult:
    # recipients the server refused, with (code, message); the others were delivered
    refused: dict[str, tuple[int, str]] = field(default_factory=dict)

    @property
    def permanent(self) -> dict[str, tuple[int, str]]:
        """Refused for good (5xx): tell the office, do not retry."""
        return {a: r for a, r in self.refused.items() if r[0] >= 500}

    @property
    def temporary(self) -> dict[str, tuple[int, str]]:
        """Refused for now (4xx) while the others got the message."""
        return {a: r for a, r in self.refused.items() if r[0] < 500}


class MessageRejected(DeliveryError):
    """The server refused the message itself (5xx after DATA, or to MAIL FROM), not one
    of its recipients; ``code`` and ``answer`` are what it said."""

    def __init__(self, message: str, code: int, answer: str) -> None:
        super().__init__(message, permanent=True)
        self.code, self.answer = code, answer
