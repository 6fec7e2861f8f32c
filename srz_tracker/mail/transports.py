"""Hand rendered emails over: SMTP (through yagmail), a local Maildir, the console, or
nowhere (benchmarks). The message itself is composed by :mod:`srz_tracker.mail.mime`.

Every transport is a context manager covering one delivery pass::

    with make_transport(settings) as transport:
        for email in emails:
            try:
                result = transport.send(email)     # result.refused: recipients refused
            except DeliveryError as exc:            # nothing was delivered
                ...exc.permanent...

Error contract of ``send``:

- the message itself refused for good: :class:`MessageRejected` (a permanent
  :class:`DeliveryError` carrying the server's code and answer) for a 5xx answer to
  MAIL FROM or to the message data (``552`` too big, ``554`` content refused, ``500``
  line too long...). It says nothing about any recipient: their rows stay for the office
  to see and send again once the cause is fixed;
- the whole message failed otherwise: :class:`DeliveryError` with ``permanent=True`` for
  an unusable address or Message-ID in the data, and ``permanent=False`` for everything
  worth retrying: connection refused or dropped,
  timeouts, TLS or login problems (a configuration fault that the office must fix; the
  messages themselves are fine), 4xx answers;
- some recipients refused, the others accepted: :class:`SendResult` with ``refused``
  holding each refused address and the server's (code, message); codes 5xx are permanent
  (``SendResult.permanent``), 4xx temporary (``SendResult.temporary``). The message was
  delivered to everybody else, so it must not be sent again to them;
- every recipient refused with 5xx: a :class:`SendResult` listing them all; with any 4xx
  among them: ``DeliveryError(permanent=False)``.

A message is never sent twice by the transport itself: a connection that drops during a
send raises, and only the next message opens a new connection.
"""

from __future__ import annotations

import contextlib
import logging
import mailbox
import smtplib
import ssl
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self, TextIO

from srz_tracker.errors import DeliveryError
from srz_tracker.mail.mime import OutgoingEmail, build_mime, wire_bytes
from srz_tracker.mail.outcome import MessageRejected, SendResult
from srz_tracker.text import sanitize_header

if TYPE_CHECKING:
    from srz_tracker.config import Settings, SmtpSettings

log = logging.getLogger("srz_tracker.mail.transports")

# A connection idle for longer than this is probed with NOOP before it is reused, so that
# a server-side idle timeout reconnects instead of failing the next message.
_IDLE_PROBE_SECONDS = 30.0


class Transport:
    """One delivery pass: enter, send any number of messages, exit.

    Subclasses implement :meth:`send` and, when the pass holds something (a connection,
    an open mailbox), the :meth:`open` and :meth:`close` hooks; entering calls ``open``
    and leaving calls ``close``, whether or not the pass ended with an exception.
    """

    description: str  # where messages go, for the CLI and logs (never a password)

    def __enter__(self) -> Self:
        self.open()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def open(self) -> None:
        """Get ready for a pass; nothing by default."""

    def send(self, email: OutgoingEmail) -> SendResult:
        raise NotImplementedError

    def close(self) -> None:
        """Release what the pass holds; nothing by default. Safe to call twice."""


# -- SMTP through yagmail --------------------------------------------------------------

# Why yagmail only opens the connection here (checked against yagmail 0.16.0):
# - Its composer (prepare_send / prepare_message) cannot make a proper text + HTML
#   alternative: every content string goes into BOTH parts, the text part gets "<br>"
#   for each newline, and HTML is pushed through premailer. A dict ``to`` produces a
#   To: header with only the display names (no addresses), and a body string that is
#   the path of an existing file is attached as that file. So the message is composed
#   by build_mime (the same bytes the Maildir and console transports produce).
# - Client.send() logs in again (a new SMTP session, the old one left open) on every
#   call, retries a dropped connection up to three times (the same message can arrive
#   three times) and then returns False instead of raising. It is never called: one
#   connection is opened per pass and smtplib's sendmail is called on it directly.
# - Client.login() with no password asks the keyring and then prompts on the terminal;
#   a daemon must never prompt, so login is skipped (smtp_skip_login) unless both user
#   and password are configured.
# - A user name without "@" gets "@gmail.com" appended; the user is passed as a
#   one-entry {user: user} dict, which yagmail takes verbatim.
# What is used: Client.login() choosing SMTP_SSL / SMTP + STARTTLS / plain SMTP, with the
# timeout and a verifying TLS context handed through to smtplib.


class SmtpTransport(Transport):
    """One connection per pass, opened by the first send() and reused: a pass with
    nothing to send does not touch the server, and an unreachable server fails each
    message with DeliveryError instead of failing the pass."""

    def __init__(self, smtp: SmtpSettings, from_addr: str, from_name: str) -> None:
        if not smtp.host:
            raise DeliveryError("未配置 SMTP 服务器（SRZ_SMTP_HOST）", permanent=False)
        self.smtp_settings = smtp
        self.from_addr = sanitize_header(from_addr)
        self.from_name = from_name
        self.host = smtp.host
        self.port = smtp.effective_port
        self.description = f"SMTP 服务器 {self.host}:{self.port}（{smtp.security}）"
        self._client: Any = None
        self._connect_error: DeliveryError | None = None
        self._last_used = 0.0
        self.connections_opened = 0

    # connection ---------------------------------------------------------------------

    def _connect(self) -> smtplib.SMTP:
        import yagmail

        s = self.smtp_settings
        login = bool(s.user and s.password)
        user = s.user if (login and s.user) else self.from_addr
        tls = ssl.create_default_context() if s.security != "none" else None  # CA store: slow
        kwargs: dict[str, Any] = {"timeout": s.timeout_seconds}
        if s.security == "ssl":
            kwargs["context"] = tls
        client = yagmail.Client(
            user={user: user},
            password=s.password if login else None,
            host=self.host,
            port=self.port,
            smtp_ssl=s.security == "ssl",
            smtp_starttls={"context": tls} if s.security == "starttls" else False,
            smtp_skip_login=not login,
            soft_email_validation=False,
            **kwargs,
        )
        client.set_logging(None)  # yagmail would otherwise add its own stderr handler
        self._client = client
        try:
            client.login()
        except BaseException:
            self._discard()
            raise
        self.connections_opened += 1
        log.info("connected to %s", self.description)
        return client.smtp

    def _connection(self) -> smtplib.SMTP:
        if self._connect_error is not None:
            raise self._connect_error
        if self._client is not None and self._client.smtp is not None:
            smtp: smtplib.SMTP = self._client.smtp
            if time.monotonic() - self._last_used < _IDLE_PROBE_SECONDS:
                return smtp
            try:
                if smtp.noop()[0] == 250:
                    return smtp
            except (smtplib.SMTPException, OSError):
                pass
            self._discard()
        try:
            return self._connect()
        except smtplib.SMTPAuthenticationError as exc:
            err = DeliveryError(
                f"SMTP 登录失败（{self.description}，用户 {self.smtp_settings.user}）："
                f"{exc.smtp_code} {_text(exc.smtp_error)}",
                permanent=False,
            )
        except smtplib.SMTPNotSupportedError as exc:
            err = DeliveryError(f"SMTP 服务器不支持所需功能（{self.description}）：{exc}")
        except smtplib.SMTPResponseException as exc:
            err = DeliveryError(
                f"SMTP 服务器拒绝连接（{self.description}）：{exc.smtp_code} "
                f"{_text(exc.smtp_error)}",
                permanent=False,
            )
        except (smtplib.SMTPException, OSError) as exc:
            err = DeliveryError(
                f"无法连接 {self.description}：{_describe_os_error(exc)}",
                permanent=False,
            )
        # Remember it: the other messages of this pass fail at once instead of each
        # waiting for the same timeout.
        self._connect_error = err
        raise err

    def _discard(self) -> None:
        client, self._client = self._client, None
        if client is None:
            return
        client.is_closed = True  # keep yagmail's __del__ from touching the socket
        smtp = client.smtp
        if smtp is not None:
            with contextlib.suppress(OSError):
                smtp.close()

    def close(self) -> None:
        client, self._client = self._client, None
        if client is None:
            return
        client.is_closed = True
        smtp = client.smtp
        if smtp is None:
            return
        try:
            smtp.quit()
        except (smtplib.SMTPException, OSError):
            with contextlib.suppress(OSError):
                smtp.close()

    # sending ------------------------------------------------------------------------

    def send(self, email: OutgoingEmail) -> SendResult:
        msg = build_mime(email, self.from_addr, self.from_name)
        recipients = email.recipients
        if not recipients:
            raise DeliveryError("邮件没有收件人", permanent=True)
        data = wire_bytes(msg)
        smtp = self._connection()
        try:
            refused = smtp.sendmail(self.from_addr, recipients, data)
        except smtplib.SMTPRecipientsRefused as exc:
            result = {a: (code, _text(m)) for a, (code, m) in exc.recipients.items()}
            if all(code >= 500 for code, _ in result.values()):
                log.warning("%s: every recipient refused: %s", email.message_id, result)
                return SendResult(refused=result)
            raise DeliveryError(
                f"收件人暂时被拒收：{_format_refused(result)}", permanent=False
            ) from None
        except smtplib.SMTPServerDisconnected as exc:
            self._discard()
            raise DeliveryError(
                f"与 {self.description} 的连接中断：{exc}（邮件可能未送达，稍后重试）",
                permanent=False,
            ) from None
        except smtplib.SMTPResponseException as exc:
            code = exc.smtp_code
            if code == 421 or code < 0:
                self._discard()
            what = "发件人被拒绝" if isinstance(exc, smtplib.SMTPSenderRefused) else "邮件被拒收"
            answer = _text(exc.smtp_error)
            message = f"{self.description} {what}：{code} {answer}"
            if 500 <= code < 600 and isinstance(
                exc, smtplib.SMTPDataError | smtplib.SMTPSenderRefused
            ):
                raise MessageRejected(message, code, answer) from None
            raise DeliveryError(message, permanent=500 <= code < 600) from None
        except (smtplib.SMTPException, OSError) as exc:
            self._discard()
            raise DeliveryError(
                f"发送到 {self.description} 时出错：{_describe_os_error(exc)}",
                permanent=False,
            ) from None
        self._last_used = time.monotonic()
        result = {a: (code, _text(m)) for a, (code, m) in refused.items()}
        if result:
            log.warning("%s: some recipients refused: %s", email.message_id, result)
        log.info("sent %s to %d recipient(s)", email.message_id, len(recipients) - len(result))
        return SendResult(refused=result)


def _text(value: bytes | str) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", errors="replace")
    return str(value)


def _describe_os_error(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):
        return "连接超时"
    if isinstance(exc, ConnectionRefusedError):
        return "连接被拒绝（服务器未运行或端口错误）"
    if isinstance(exc, ssl.SSLError):
        return f"TLS 错误：{exc}"
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__


def _format_refused(refused: dict[str, tuple[int, str]]) -> str:
    return "；".join(f"{a}（{code} {m}）" for a, (code, m) in refused.items())


# -- Maildir, console, null ------------------------------------------------------------


class MaildirTransport(Transport):
    """One file per message in a Maildir (``new/``), readable by any mail client."""

    def __init__(self, path: Path, from_addr: str, from_name: str) -> None:
        self.path = Path(path)
        self.from_addr = from_addr
        self.from_name = from_name
        self.description = f"本地邮件目录 {self.path}"
        self._box: mailbox.Maildir | None = None
        self.last_key: str | None = None

    def close(self) -> None:
        self._box = None

    def _mailbox(self) -> mailbox.Maildir:
        if self._box is None:
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                self._box = mailbox.Maildir(self.path, factory=None, create=True)
            except OSError as exc:
                raise DeliveryError(f"无法打开邮件目录 {self.path}：{exc}") from None
        return self._box

    def send(self, email: OutgoingEmail) -> SendResult:
        msg = build_mime(email, self.from_addr, self.from_name)
        if not email.recipients:
            raise DeliveryError("邮件没有收件人", permanent=True)
        try:
            self.last_key = self._mailbox().add(msg)
        except OSError as exc:
            raise DeliveryError(f"写入邮件目录 {self.path} 失败：{exc}") from None
        log.info("stored %s in %s", email.message_id, self.path)
        return SendResult()


class ConsoleTransport(Transport):
    """Prints each message (headers, the text part, its attachments' names) to stdout."""

    def __init__(self, from_addr: str, from_name: str, stream: TextIO | None = None) -> None:
        self.from_addr = from_addr
        self.from_name = from_name
        self.stream = stream
        self.description = "控制台（仅显示，不发送）"

    def send(self, email: OutgoingEmail) -> SendResult:
        msg = build_mime(email, self.from_addr, self.from_name)
        out = self.stream or sys.stdout
        lines = ["=" * 72]
        for name in ("Message-ID", "Date", "From", "To", "Cc", "Subject"):
            if msg[name] is not None:
                lines.append(f"{name}: {msg[name]}")
        lines.append("")
        lines.append(email.text.rstrip("\n"))
        lines.append("")
        lines += [f"附件：{a.filename}（{len(a.content):,} 字节）" for a in email.attachments]
        out.write("\n".join(lines) + "\n")
        out.flush()
        return SendResult()


class NullTransport(Transport):
    """Discards every message (benchmarks); counts them."""

    description = "丢弃（null）"

    def __init__(self) -> None:
        self.sent = 0

    def send(self, email: OutgoingEmail) -> SendResult:
        self.sent += 1
        return SendResult()


def make_transport(settings: Settings) -> Transport:
    """The transport the settings choose (``settings.effective_transport``)."""
    kind = settings.effective_transport
    if kind == "smtp":
        return SmtpTransport(settings.smtp, settings.mail_from, settings.mail_from_name)
    if kind == "maildir":
        return MaildirTransport(settings.maildir, settings.mail_from, settings.mail_from_name)
    if kind == "console":
        return ConsoleTransport(settings.mail_from, settings.mail_from_name)
    if kind == "null":
        return NullTransport()
    raise ValueError(f"unknown transport {kind!r}")
