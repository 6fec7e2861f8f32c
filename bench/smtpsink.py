"""A well-behaved aiosmtpd server on loopback that counts what it receives, run in a
process of its own so that it does not share the interpreter with the sender:
``python -m bench.smtpsink`` prints its port, and on end of stdin prints
``{"messages": N, "connections": C, "message_ids": K}`` and exits."""

from __future__ import annotations

import json
import socket
import sys
import threading
from typing import Any

from aiosmtpd.controller import Controller


class Counter:
    def __init__(self) -> None:
        self.messages = 0
        self.peers: set[Any] = set()
        self.message_ids: set[str] = set()
        self.lock = threading.Lock()

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        with self.lock:
            self.peers.add(session.peer)
        return responses

    async def handle_DATA(self, server, session, envelope):
        raw = envelope.original_content or envelope.content or b""
        if isinstance(raw, str):
            raw = raw.encode()
        mid = ""
        for line in raw.split(b"\r\n", 200):
            if line.lower().startswith(b"message-id:"):
                mid = line.split(b":", 1)[1].strip().decode(errors="replace")
                break
        with self.lock:
            self.messages += 1
            self.message_ids.add(mid)
        return "250 2.0.0 OK: queued"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def main() -> None:
    counter = Counter()
    port = free_port()
    controller = Controller(
        counter, hostname="127.0.0.1", port=port, decode_data=False, server_hostname="sink"
    )
    controller.start()
    print(port, flush=True)
    sys.stdin.read()
    controller.stop()
    print(
        json.dumps(
            {
                "messages": counter.messages,
                "connections": len(counter.peers),
                "message_ids": len(counter.message_ids),
            }
        ),
        flush=True,
    )


if __name__ == "__main__":
    main()
