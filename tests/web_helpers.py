"""Helpers for the web tests: settings with a secret and a data directory, a real small
PDF, the task and contact the tests act on, links taken out of received emails, and
``srz serve`` as a real process on a free loopback port."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path

from sqlalchemy import select

from srz_tracker.config import Settings, load_settings
from srz_tracker.store import db
from srz_tracker.store.models import City, Contact, Obligation, Task
from tests.smtp_server import free_port

SECRET = "test-secret-0123456789abcdef-web"
SRZ = str(Path(sys.executable).with_name("srz"))
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"


def web_env(tmp_path: Path, base_url: str, smtp: object | None = None, **extra: str) -> dict:
    """Environment of the web server and the commands: secret, base URL, data dir."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SRZ_")}
    env.update(
        {
            "SRZ_WEB_SECRET": SECRET,
            "SRZ_WEB_BASE_URL": base_url,
            "SRZ_DATA_DIR": str(tmp_path / "data"),
            "SRZ_MAILDIR": str(tmp_path / "maildir"),
            "SRZ_MAIL_FROM": "srz-tracker@example.org",
            "SRZ_SEND_HOUR": "0",
            "SRZ_WEEKLY_SUMMARY": "0",
            "XDG_DATA_HOME": str(tmp_path / "xdg"),
            "SRZ_USER": "测试员",
            "PYTHONUNBUFFERED": "1",
            "COLUMNS": "240",
        }
    )
    if smtp is not None:
        env.update(
            {
                "SRZ_SMTP_HOST": smtp.host,  # type: ignore[attr-defined]
                "SRZ_SMTP_PORT": str(smtp.port),  # type: ignore[attr-defined]
                "SRZ_SMTP_SECURITY": "none",
            }
        )
    env.update(extra)
    return env


def web_settings(db_url: str, env: dict[str, str]) -> Settings:
    return load_settings(db_url=db_url, environ=env)


def make_pdf(text: str = "srz test evidence") -> bytes:
    """A real one-page PDF (valid cross-reference table), small enough to upload."""
    stream = f"BT /F1 18 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    for offset in offsets:
        out += f"{offset:010d} 00000 n \n".encode()
    out += (
        f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    )
    return bytes(out)


# An executable (ELF header) and a Windows one (MZ): neither is evidence, whatever its name.
ELF_BYTES = b"\x7fELF\x02\x01\x01\x00" + b"\x00" * 200
MZ_BYTES = b"MZ\x90\x00\x03\x00\x00\x00" + b"\x00" * 200


@dataclass
class Target:
    task_id: int
    email: str
    name: str
    city_id: int
    other_task_id: int  # a task of another city: never opened by this contact's link


def summary_task(db_url: str, city: str = "南宁市") -> Target:
    """南宁市's city-summary-report task (due 2023-12-30) and the city's contact."""
    with db.read_session(db.get_engine(db_url)) as session:
        city_id = session.scalar(select(City.id).where(City.name == city))
        ids = list(
            session.execute(
                select(Task.id, Task.city_id)
                .join(Obligation, Task.obligation_id == Obligation.id)
                .where(Obligation.key == "city-summary-report")
                .order_by(Task.id)
            )
        )
        mine = next(t for t, c in ids if c == city_id)
        other = next(t for t, c in ids if c != city_id)
        contact = session.scalar(
            select(Contact)
            .where(Contact.city_id == city_id, Contact.role == "contact", Contact.scope == "city")
            .order_by(Contact.id)
        )
        assert contact is not None
        return Target(mine, contact.email, contact.name, city_id, other)


def body_text(message: EmailMessage) -> str:
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


def links_in(message: EmailMessage) -> list[str]:
    return re.findall(r"https?://[^\s<>\"'）]+", body_text(message))


def task_link(message: EmailMessage, task_id: int) -> str:
    found = [u for u in links_in(message) if f"/t/{task_id}/" in u]
    assert found, f"no link to task {task_id} in:\n{body_text(message)}"
    return found[0]


class ServerProcess:
    """``srz --db URL serve --port P [--now T]`` as a real process (uvicorn)."""

    def __init__(
        self, db_url: str, env: dict[str, str], cwd: Path, *args: str, port: int | None = None
    ) -> None:
        self.port = port or free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        index = len(list(cwd.glob("serve-*.log")))
        self.log_path = cwd / f"serve-{index}.log"
        self._log = self.log_path.open("wb")
        self.proc = subprocess.Popen(
            [SRZ, "--db", db_url, "serve", "--port", str(self.port), *args],
            env=env,
            cwd=cwd,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{self.base}/healthz", timeout=2) as answer:
                    if answer.status == 200:
                        break
            except OSError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise AssertionError(f"srz serve did not start:\n{self.log()}")
            time.sleep(0.1)

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def close(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        self._log.close()
