"""Just enough HTTP/1.1 for a loopback kiosk: read one request, write one response.

The page asks for a handful of small files and one event stream, so every plain response
closes its connection; there is no keep-alive, no chunking and no request body.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from http import HTTPStatus
from urllib.parse import parse_qsl, unquote, urlsplit

MAX_HEAD = 16 * 1024
"""Bytes in the request line and headers together; a browser sends well under 2 KiB."""
HEAD_TIMEOUT = 10.0

# Everything comes from this server: no CDN, nothing inline, nothing framed.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
        "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str] = field(default_factory=dict)
    """Lower-cased names."""


async def read_request(reader: asyncio.StreamReader) -> Request | None:
    """The next request on `reader`, or None when the peer sent nothing usable in time."""
    try:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), HEAD_TIMEOUT)
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, asyncio.TimeoutError, ConnectionError):
        return None
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
        return None
    method, target, _ = parts
    url = urlsplit(target)
    headers = {}
    for line in lines[1:]:
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return Request(method, unquote(url.path), dict(parse_qsl(url.query)), headers)


def response(status: int, body: bytes = b"", content_type: str = "text/plain; charset=utf-8",
             headers: dict[str, str] | None = None, head_only: bool = False) -> bytes:
    """A complete response that closes the connection."""
    lines = [f"HTTP/1.1 {status} {HTTPStatus(status).phrase}",
             f"Content-Type: {content_type}", f"Content-Length: {len(body)}",
             "Cache-Control: no-cache", "Connection: close"]
    lines += [f"{k}: {v}" for k, v in {**SECURITY_HEADERS, **(headers or {})}.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (b"" if head_only else body)


def error(status: int, message: str, head_only: bool = False, headers: dict[str, str] | None = None) -> bytes:
    return response(status, (message + "\n").encode(), headers=headers, head_only=head_only)


def stream_head() -> bytes:
    """The start of a server-sent event stream; events follow until either side closes."""
    lines = ["HTTP/1.1 200 OK", "Content-Type: text/event-stream; charset=utf-8",
             "Cache-Control: no-store", "Connection: keep-alive", "X-Accel-Buffering: no"]
    lines += [f"{k}: {v}" for k, v in SECURITY_HEADERS.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


def sse(data: str | bytes) -> bytes:
    """One server-sent event carrying one line of JSON (which never holds a newline)."""
    raw = data.encode() if isinstance(data, str) else data
    return b"data: " + raw + b"\n\n"
