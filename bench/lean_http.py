"""A lean asyncio HTTP/1.1 client for the load benches: keep-alive connections to one server,
nothing else.

The load generator shares the cores with the server it measures, so every millisecond it spends
parsing is one the server does not get. httpx (with its httpcore, its URL and header models,
its cookie jar and its event hooks) cost about 28 ms of CPU per member of bench/peak_day.py;
this client writes the request in one buffer, reads the status line and headers with one
``readuntil`` and the body by ``Content-Length`` (or chunks), and keeps the connection for the
next request. It speaks to a server it trusts (``meisai serve`` on 127.0.0.1): no TLS, no
redirects, no proxies, no decompression.
"""

from __future__ import annotations

import asyncio
import contextlib
from urllib.parse import urlencode, urlsplit


class HTTPError(Exception):
    """The connection failed or the answer could not be read."""


class Headers:
    """A response's headers, names lower-cased, repeated names kept in order."""

    def __init__(self, items: list[tuple[str, str]]) -> None:
        self._items = items

    def get(self, name: str, default: str | None = None) -> str | None:
        for key, value in self._items:
            if key == name:
                return value
        return default

    def __getitem__(self, name: str) -> str:
        value = self.get(name)
        if value is None:
            raise KeyError(name)
        return value

    def get_list(self, name: str) -> list[str]:
        return [value for key, value in self._items if key == name]


class Response:
    def __init__(self, status_code: int, headers: Headers, content: bytes) -> None:
        self.status_code = status_code
        self.headers = headers
        self.content = content

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")


class _Connection:
    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    def close(self) -> None:
        self.writer.close()


async def _read_response(reader: asyncio.StreamReader) -> tuple[Response, bool]:
    """The response and whether the server keeps the connection open."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head[:-4].decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    items = []
    for line in lines[1:]:
        name, _, value = line.partition(":")
        items.append((name.strip().lower(), value.strip()))
    headers = Headers(items)
    length = headers.get("content-length")
    if length is not None:
        body = await reader.readexactly(int(length))
    elif (headers.get("transfer-encoding") or "").lower() == "chunked":
        parts = []
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await reader.readuntil(b"\r\n")  # no trailers are sent; the last CRLF
                break
            parts.append(await reader.readexactly(size))
            await reader.readexactly(2)
        body = b"".join(parts)
    elif status in (204, 304) or 100 <= status < 200:
        body = b""
    else:
        body = await reader.read()  # to the end of the connection
        return Response(status, headers, body), False
    keep = (headers.get("connection") or "").lower() != "close"
    return Response(status, headers, body), keep


class Client:
    """Up to ``connections`` keep-alive connections to ``base`` (``http://host:port``)."""

    def __init__(self, base: str, *, connections: int, timeout: float = 30) -> None:
        parts = urlsplit(base)
        self.host = parts.hostname or "127.0.0.1"
        self.port = parts.port or 80
        self.timeout = timeout
        self._idle: list[_Connection] = []
        self._slots = asyncio.Semaphore(connections)

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *exc: object) -> None:
        for connection in self._idle:
            connection.close()
        self._idle.clear()

    async def get(self, path: str, *, headers: dict[str, str]) -> Response:
        return await self.request("GET", path, headers=headers)

    async def request(
        self,
        method: str,
        path: str,
        *,
        headers: dict[str, str],
        data: dict[str, str] | None = None,
    ) -> Response:
        body = urlencode(data).encode() if data is not None else b""
        head = [f"{method} {path} HTTP/1.1"]
        head += [f"{name}: {value}" for name, value in headers.items()]
        if data is not None:
            head.append("Content-Type: application/x-www-form-urlencoded")
        if body or method == "POST":
            head.append(f"Content-Length: {len(body)}")
        message = ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body
        async with self._slots:
            try:
                async with asyncio.timeout(self.timeout):
                    return await self._send(message)
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError) as error:
                raise HTTPError(type(error).__name__) from error
            except TimeoutError as error:
                raise HTTPError("Timeout") from error

    async def _send(self, message: bytes) -> Response:
        while self._idle:
            connection = self._idle.pop()
            try:
                return await self._exchange(connection, message)
            except asyncio.IncompleteReadError as error:
                if error.partial:
                    raise
                # The server closed an idle connection before our request reached it (its
                # keep-alive timeout): nothing was answered, so the request goes on a new one.
            except ConnectionError:
                pass
        reader, writer = await asyncio.open_connection(self.host, self.port)
        return await self._exchange(_Connection(reader, writer), message)

    async def _exchange(self, connection: _Connection, message: bytes) -> Response:
        connection.writer.write(message)
        try:
            response, keep = await _read_response(connection.reader)
        except BaseException:
            connection.close()
            raise
        if keep:
            self._idle.append(connection)
        else:
            with contextlib.suppress(OSError):
                connection.close()
        return response
