"""A minimal WebSocket client (RFC 6455) on asyncio streams, for tests against real processes.

No WebSocket client library is installed (``websockets``, ``wsproto`` and ``httpx-ws`` are not
dependencies), and the tests need little: the opening handshake with headers and subprotocols,
text frames both ways, ping/pong, and the close code and reason.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import json
import os
import struct
from typing import Any
from urllib.parse import urlsplit

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_TEXT, _BINARY, _CLOSE, _PING, _PONG, _CONTINUATION = 0x1, 0x2, 0x8, 0x9, 0xA, 0x0


class HandshakeRefused(Exception):
    def __init__(self, status_line: str) -> None:
        super().__init__(status_line)
        self.status_line = status_line


class Closed(Exception):
    """The server closed the connection: ``code`` (1006 when it just went away) and ``reason``."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(f"closed {code}: {reason}")
        self.code = code
        self.reason = reason


class WebSocketClient:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, subprotocol: str | None) -> None:
        self._reader = reader
        self._writer = writer
        self.subprotocol = subprotocol

    @classmethod
    async def connect(
        cls,
        url: str,
        *,
        headers: dict[str, str] | None = None,
        subprotocols: list[str] | None = None,
        timeout: float = 5.0,
    ) -> WebSocketClient:
        parts = urlsplit(url)
        assert parts.scheme == "ws", "ws:// only"
        host, port = parts.hostname or "127.0.0.1", parts.port or 80
        reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
        key = base64.b64encode(os.urandom(16)).decode()
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        lines = [
            f"GET {target or '/'} HTTP/1.1",
            f"Host: {host}:{port}",
            "Upgrade: websocket",
            "Connection: Upgrade",
            f"Sec-WebSocket-Key: {key}",
            "Sec-WebSocket-Version: 13",
        ]
        if subprotocols:
            lines.append(f"Sec-WebSocket-Protocol: {', '.join(subprotocols)}")
        lines.extend(f"{name}: {value}" for name, value in (headers or {}).items())
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        await writer.drain()
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout)
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        if " 101 " not in f"{status_line} ":
            writer.close()
            raise HandshakeRefused(status_line)
        received = {}
        for line in header_lines:
            name, _, value = line.partition(":")
            if name:
                received[name.strip().lower()] = value.strip()
        expected = base64.b64encode(hashlib.sha1(key.encode() + _GUID).digest()).decode()  # the RFC's digest
        assert received.get("sec-websocket-accept") == expected, received
        return cls(reader, writer, received.get("sec-websocket-protocol"))

    async def _send_frame(self, opcode: int, payload: bytes) -> None:
        header = bytes([0x80 | opcode])
        length = len(payload)
        if length < 126:
            header += bytes([0x80 | length])
        elif length < 1 << 16:
            header += bytes([0x80 | 126]) + struct.pack("!H", length)
        else:
            header += bytes([0x80 | 127]) + struct.pack("!Q", length)
        mask = os.urandom(4)
        masked = bytes(byte ^ mask[i % 4] for i, byte in enumerate(payload))
        self._writer.write(header + mask + masked)
        await self._writer.drain()

    async def _read_frame(self) -> tuple[bool, int, bytes]:
        first, second = await self._reader.readexactly(2)
        length = second & 0x7F
        if length == 126:
            (length,) = struct.unpack("!H", await self._reader.readexactly(2))
        elif length == 127:
            (length,) = struct.unpack("!Q", await self._reader.readexactly(8))
        mask = await self._reader.readexactly(4) if second & 0x80 else b""
        payload = await self._reader.readexactly(length)
        if mask:
            payload = bytes(byte ^ mask[i % 4] for i, byte in enumerate(payload))
        return bool(first & 0x80), first & 0x0F, payload

    async def recv(self) -> str:
        """The next text (or binary, decoded) message; answers pings; raises :class:`Closed`."""
        parts: list[bytes] = []
        while True:
            try:
                fin, opcode, payload = await self._read_frame()
            except (asyncio.IncompleteReadError, ConnectionError):
                raise Closed(1006, "connection lost") from None
            if opcode == _PING:
                await self._send_frame(_PONG, payload)
            elif opcode == _PONG:
                continue
            elif opcode == _CLOSE:
                code = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else 1005
                reason = payload[2:].decode(errors="replace")
                try:
                    await self._send_frame(_CLOSE, payload[:2])
                finally:
                    self._writer.close()
                raise Closed(code, reason)
            elif opcode in (_TEXT, _BINARY, _CONTINUATION):
                parts.append(payload)
                if fin:
                    return b"".join(parts).decode()

    async def recv_json(self, timeout: float) -> Any:
        return json.loads(await asyncio.wait_for(self.recv(), timeout))

    async def send_text(self, text: str) -> None:
        await self._send_frame(_TEXT, text.encode())

    async def close(self, code: int = 1000) -> None:
        if self._writer.is_closing():
            return
        with contextlib.suppress(ConnectionError):
            await self._send_frame(_CLOSE, struct.pack("!H", code))
        self._writer.close()
        with contextlib.suppress(ConnectionError):
            await self._writer.wait_closed()
