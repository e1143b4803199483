"""Outgoing email: ``EMAIL_URL`` = ``smtp://user:pass@host:port`` (``smtps://`` for TLS, or
``?starttls=true``) or ``console://`` (development: the message is logged, nothing is sent)."""

from __future__ import annotations

import asyncio
import logging
import smtplib
from email.message import EmailMessage
from typing import Protocol
from urllib.parse import parse_qs, unquote, urlparse

import msgspec

logger = logging.getLogger("rural24.email")

SENDER = "Rural24 <no-reply@rural24.com.ar>"


class Email(msgspec.Struct, frozen=True):
    to: str
    subject: str
    text: str
    html: str | None = None
    """An HTML alternative to ``text`` (sent as multipart/alternative)."""


class Mailer(Protocol):
    async def send(self, email: Email) -> None: ...


class ConsoleMailer:
    """Development and tests without an SMTP server: the message is kept in ``sent`` (the tests
    read it) and only its recipient and subject are logged. Bodies are never logged: they carry
    account links (password reset …) and other people's messages."""

    def __init__(self) -> None:
        self.sent: list[Email] = []

    async def send(self, email: Email) -> None:
        self.sent.append(email)
        del self.sent[:-100]  # a long-running development server keeps the last hundred
        logger.info("email to %s: %s (console: not sent)", email.to, email.subject)


class SmtpMailer:
    """Standard-library SMTP in a worker thread (one connection per message: jobs are few)."""

    def __init__(self, url: str, timeout: float = 10.0) -> None:
        parsed = urlparse(url)
        self._tls = parsed.scheme == "smtps"
        self._starttls = parse_qs(parsed.query).get("starttls", ["false"])[0].lower() == "true"
        self._host = parsed.hostname or "localhost"
        self._port = parsed.port or (465 if self._tls else 25)
        self._user = unquote(parsed.username) if parsed.username else None
        self._password = unquote(parsed.password) if parsed.password else None
        self._timeout = timeout

    def _send_blocking(self, email: Email) -> None:
        message = EmailMessage()
        message["From"] = SENDER
        message["To"] = email.to
        message["Subject"] = email.subject
        message.set_content(email.text)
        if email.html is not None:
            message.add_alternative(email.html, subtype="html")
        smtp_class = smtplib.SMTP_SSL if self._tls else smtplib.SMTP
        with smtp_class(self._host, self._port, timeout=self._timeout) as smtp:
            if self._starttls:
                smtp.starttls()
            if self._user:
                smtp.login(self._user, self._password or "")
            smtp.send_message(message)

    async def send(self, email: Email) -> None:
        await asyncio.to_thread(self._send_blocking, email)


def build_mailer(url: str) -> Mailer:
    if url.startswith("console:"):
        return ConsoleMailer()
    return SmtpMailer(url)
