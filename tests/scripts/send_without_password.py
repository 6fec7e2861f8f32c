"""Send one message through ``SmtpTransport`` with a user but no password:
``python send_without_password.py HOST PORT``.

yagmail, given a user without a password, asks the keyring and then prompts on the
terminal; the test runs this with stdin closed and no keyring backend to prove that the
transport does neither. Prints ``refused {...}`` with the refused recipients.
"""

from __future__ import annotations

import sys

from srz_tracker.config import SmtpSettings
from srz_tracker.mail.mime import OutgoingEmail
from srz_tracker.mail.transports import SmtpTransport


def main(host: str, port: int) -> None:
    settings = SmtpSettings(
        host=host, port=port, user="srzbot", password=None, security="none", timeout_seconds=5
    )
    message = OutgoingEmail(
        "<np@srz.example.org>", [("a@example.org", None)], [], "无密码", "正文", "<p>正文</p>"
    )
    with SmtpTransport(settings, "srz@example.org", "提醒") as transport:
        print("refused", transport.send(message).refused)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
