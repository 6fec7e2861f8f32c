"""A real SMTP server on loopback (aiosmtpd) for tests, able to misbehave on request.

Use the ``smtp_server`` fixture (tests/fixtures/smtp.py, loaded for every test)::

    def test_x(smtp_server):
        settings = ...SmtpSettings(host=smtp_server.host, port=smtp_server.port,
                                   security="none")
        ...
        assert smtp_server.messages[0].message["Subject"] == "..."

or :class:`SmtpTestServer` directly (``with SmtpTestServer() as server: ...``).

Misbehaviour switches (change them at any time, they apply to the next command):

- ``reject_recipients``: addresses answered ``550`` at RCPT TO (permanent);
- ``defer_recipients``: addresses answered ``450`` at RCPT TO (temporary);
- ``fail_data_with``: a code (``451``, ``554``...) answered to the message data;
- ``drop_after_data``: keep the message, then close the connection without answering;
- ``stop()`` / ``start()``: nothing listens on the port (connection refused) / back up.

``messages`` holds every accepted message as a :class:`ReceivedMessage`;
``connections`` counts SMTP connections (EHLO/HELO from distinct client sockets);
``logins`` records AUTH attempts (the server offers AUTH without TLS for tests).
"""

from __future__ import annotations

import email
import email.policy
import socket
import ssl
import subprocess
import threading
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword


@dataclass
class ReceivedMessage:
    mail_from: str
    rcpt_tos: list[str]
    raw: bytes
    message: EmailMessage
    peer: Any = None

    @property
    def recipients(self) -> list[str]:
        return self.rcpt_tos


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class _Handler:
    def __init__(self, owner: SmtpTestServer) -> None:
        self.owner = owner

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        self.owner._note_session(session)
        return responses

    async def handle_HELO(self, server, session, envelope, hostname):
        session.host_name = hostname
        self.owner._note_session(session)
        return f"250 {server.hostname}"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        lowered = address.lower()
        if lowered in {a.lower() for a in self.owner.reject_recipients}:
            return f"550 5.1.1 <{address}>: Recipient address rejected: User unknown"
        if lowered in {a.lower() for a in self.owner.defer_recipients}:
            return f"450 4.2.1 <{address}>: Mailbox temporarily unavailable"
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(rcpt_options)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        code = self.owner.fail_data_with
        if code is not None:
            kind = "Requested action aborted: try again later" if code < 500 else "Rejected"
            return f"{code} {'4' if code < 500 else '5'}.3.0 {kind}"
        raw = envelope.original_content or envelope.content
        if isinstance(raw, str):
            raw = raw.encode("utf-8", errors="surrogateescape")
        self.owner._store(envelope.mail_from, list(envelope.rcpt_tos), raw, session.peer)
        if self.owner.drop_after_data:
            server.transport.close()  # the client never hears the 250
        return "250 2.0.0 OK: queued"


def make_self_signed_cert(directory: Path, host: str = "127.0.0.1") -> tuple[Path, Path]:
    """A self-signed certificate for ``host`` (IP SAN) made with the openssl command;
    returns (certificate, key). Point SSL_CERT_FILE at the certificate to trust it."""
    cert, key = directory / "smtp-test-cert.pem", directory / "smtp-test-key.pem"
    subprocess.run(
        [
            "openssl",
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            f"/CN={host}",
            "-addext",
            f"subjectAltName=IP:{host},DNS:localhost",
            "-keyout",
            str(key),
            "-out",
            str(cert),
        ],
        check=True,
        capture_output=True,
    )
    return cert, key


def server_tls_context(cert: Path, key: Path) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context


class SmtpTestServer:
    handler_class: type[_Handler] = _Handler  # subclasses may slow it down or break it
    """``tls="ssl"`` serves implicit TLS (port 465 style), ``tls="starttls"`` offers and
    requires STARTTLS; both need ``cert`` and ``key`` (see make_self_signed_cert)."""

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int | None = None,
        tls: str | None = None,
        cert: Path | None = None,
        key: Path | None = None,
    ) -> None:
        self.host = host
        self.port = port or free_port(host)
        self.tls = tls
        self._tls_context = server_tls_context(cert, key) if tls and cert and key else None
        if tls and self._tls_context is None:
            raise ValueError("tls needs cert and key")
        self.messages: list[ReceivedMessage] = []
        self.reject_recipients: set[str] = set()
        self.defer_recipients: set[str] = set()
        self.fail_data_with: int | None = None
        self.drop_after_data = False
        self.logins: list[tuple[str, str]] = []
        self.accepted_credentials: dict[str, str] | None = None  # None: accept any
        # client (host, port) of each SMTP session: one per TCP connection, even when
        # STARTTLS starts a new aiosmtpd session on it
        self._peers: set[Any] = set()
        self._lock = threading.Lock()
        self._controller: Controller | None = None

    # bookkeeping (called from the server thread) -------------------------------------

    def _note_session(self, session: Any) -> None:
        with self._lock:
            self._peers.add(session.peer)

    def _store(self, mail_from: str, rcpt_tos: list[str], raw: bytes, peer: Any) -> None:
        parsed = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        with self._lock:
            self.messages.append(ReceivedMessage(mail_from, rcpt_tos, raw, parsed, peer))

    def _authenticate(self, server, session, envelope, mechanism, auth_data) -> AuthResult:
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        login = auth_data.login.decode()
        password = auth_data.password.decode()
        with self._lock:
            self.logins.append((login, password))
        ok = self.accepted_credentials is None or (self.accepted_credentials.get(login) == password)
        if ok:
            return AuthResult(success=True, auth_data=auth_data)
        return AuthResult(
            success=False, handled=False, message="535 5.7.8 Authentication credentials invalid"
        )

    @property
    def connections(self) -> int:
        with self._lock:
            return len(self._peers)

    # control -------------------------------------------------------------------------

    def start(self) -> None:
        if self._controller is not None:
            return
        tls_kwargs: dict[str, Any] = {}
        if self.tls == "ssl":
            tls_kwargs["ssl_context"] = self._tls_context
        elif self.tls == "starttls":
            tls_kwargs["tls_context"] = self._tls_context
            tls_kwargs["require_starttls"] = True
        controller = Controller(
            self.handler_class(self),
            hostname=self.host,
            port=self.port,
            server_hostname="smtp.test.invalid",
            authenticator=self._authenticate,
            auth_require_tls=False,
            decode_data=False,
            **tls_kwargs,
        )
        controller.start()
        self._controller = controller

    def stop(self) -> None:
        controller, self._controller = self._controller, None
        if controller is not None:
            controller.stop()

    @property
    def running(self) -> bool:
        return self._controller is not None

    def reset(self) -> None:
        with self._lock:
            self.messages.clear()
            self._peers.clear()
            self.logins.clear()

    def __enter__(self) -> SmtpTestServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
