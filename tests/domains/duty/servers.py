"""Local stand-ins for the outside world of the notifiers: an SMTP sink and a webhook endpoint, each on a free
port of 127.0.0.1 in a thread of the test (no real network)."""

from __future__ import annotations

import base64
import json
import socketserver
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


@dataclass
class SmtpSink:
    """What the SMTP sink received: one entry per message, with the envelope and the login used."""

    messages: list[tuple[str, list[str], EmailMessage]] = field(default_factory=list)
    logins: list[tuple[str, str]] = field(default_factory=list)
    port: int = 0


class _SmtpHandler(socketserver.StreamRequestHandler):
    sink: SmtpSink

    def reply(self, text: str) -> None:
        self.wfile.write(text.encode("ascii") + b"\r\n")

    def handle(self) -> None:  # a minimal RFC 5321 server: enough for smtplib
        self.reply("220 sink.test ESMTP ready")
        sender, recipients = "", []
        while True:
            line = self.rfile.readline()
            if not line:
                return
            command = line.decode("ascii", "replace").strip()
            verb = command.split(" ", 1)[0].upper()
            if verb == "EHLO":
                self.reply("250-sink.test")
                self.reply("250 AUTH PLAIN")
            elif verb == "HELO":
                self.reply("250 sink.test")
            elif verb == "AUTH":
                _, mechanism, payload = command.split(" ", 2)
                _, user, password = base64.b64decode(payload).decode().split("\0")
                self.sink.logins.append((user, password))
                self.reply("235 2.7.0 authenticated")
            elif verb == "MAIL":
                sender, recipients = command.split(":", 1)[1].strip().strip("<>"), []
                self.reply("250 OK")
            elif verb == "RCPT":
                recipients.append(command.split(":", 1)[1].strip().strip("<>"))
                self.reply("250 OK")
            elif verb == "DATA":
                self.reply("354 end with <CRLF>.<CRLF>")
                lines = []
                while (chunk := self.rfile.readline()) not in (b".\r\n", b""):
                    lines.append(chunk[1:] if chunk.startswith(b"..") else chunk)
                parsed = message_from_bytes(b"".join(lines), policy=policy.default)
                self.sink.messages.append((sender, recipients, parsed))  # type: ignore[arg-type]
                self.reply("250 OK queued")
            elif verb in ("RSET", "NOOP"):
                self.reply("250 OK")
            elif verb == "QUIT":
                self.reply("221 bye")
                return
            else:
                self.reply("502 not implemented")


@contextmanager
def smtp_sink() -> Iterator[SmtpSink]:
    """Runs an SMTP sink on a free local port while the block runs."""
    sink = SmtpSink()
    handler = type("Handler", (_SmtpHandler,), {"sink": sink})
    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    sink.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield sink
    finally:
        server.shutdown()
        server.server_close()


@dataclass
class Received:
    """One request the webhook endpoint received."""

    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: dict


@dataclass
class WebhookEndpoint:
    """A local HTTP endpoint: records every POST and answers from `answers` (then 200 {"errcode": 0})."""

    received: list[Received] = field(default_factory=list)
    answers: list[tuple[int, dict]] = field(default_factory=list)
    port: int = 0

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"


@contextmanager
def webhook_endpoint() -> Iterator[WebhookEndpoint]:
    """Runs a webhook endpoint on a free local port while the block runs."""
    endpoint = WebhookEndpoint()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the http.server convention
            length = int(self.headers.get("Content-Length", 0))
            parts = urlsplit(self.path)
            endpoint.received.append(
                Received(
                    path=parts.path,
                    query=parse_qs(parts.query),
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=json.loads(self.rfile.read(length).decode("utf-8")),
                )
            )
            status, answer = endpoint.answers.pop(0) if endpoint.answers else (200, {"errcode": 0, "errmsg": "ok"})
            payload = json.dumps(answer).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    endpoint.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield endpoint
    finally:
        server.shutdown()
        server.server_close()
