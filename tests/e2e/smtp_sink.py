"""A local SMTP server for the email tests (aiosmtpd), scriptable: refuse the next N messages,
or hold a message until told, so a worker can be killed in the middle of sending it."""

from __future__ import annotations

import threading
import time
from email import message_from_bytes
from email.message import Message
from typing import Any

from aiosmtpd.controller import Controller

from tests.e2e.processes import free_port


class SmtpSink:
    def __init__(self) -> None:
        self.accepted: list[Message] = []
        self.refusals_left = 0
        self.refused = 0
        self.hold = threading.Event()
        self.hold.set()  # not holding
        self.holding = threading.Event()  # set while a message is held
        self.port = free_port()
        self._controller = Controller(self, hostname="127.0.0.1", port=self.port)

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def __enter__(self) -> SmtpSink:
        self._controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.hold.set()
        self._controller.stop()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if not self.hold.is_set():
            self.holding.set()
            while not self.hold.is_set():  # the loop runs in aiosmtpd's own thread
                time.sleep(0.02)
            return "451 4.3.0 held message dropped"
        if self.refusals_left > 0:
            self.refusals_left -= 1
            self.refused += 1
            return "451 4.3.0 try again later"
        self.accepted.append(message_from_bytes(envelope.content))
        return "250 OK"

    def wait_accepted(self, count: int, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.accepted) < count:
            if time.monotonic() > deadline:
                msg = f"{len(self.accepted)} message(s) accepted, expected {count} within {timeout} s"
                raise AssertionError(msg)
            time.sleep(0.05)
