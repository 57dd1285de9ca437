"""A server that misbehaves on purpose: it writes exact bytes to the socket, at its own pace.

http.server cannot send a status line a byte at a time, `100 Continue` forever, a reason phrase
holding a newline or an ESC, or the request's own key back in five encodings; this can. Each
connection reads one request (kept in `received`), then plays its answer: a list of steps, each
bytes sent at once, a Trickle (a byte at a time), a Repeat (forever) or a function of the request
that returns bytes (to echo it). Connection n plays answers[n], the last one again once they run
out. With a TLS context (trustme) it speaks HTTPS; `scheme` lets a plain server pose as HTTPS, to
trickle a TLS handshake that never ends.
"""

from __future__ import annotations

import contextlib
import socket
import ssl
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Union


@dataclass(frozen=True)
class Trickle:
    """These bytes one at a time, `every` seconds apart."""

    data: bytes
    every: float = 0.2


@dataclass(frozen=True)
class Repeat:
    """These bytes again and again until the client hangs up or the server stops."""

    data: bytes
    every: float = 0.2


Step = Union[bytes, Trickle, Repeat, Callable[[bytes], bytes]]  # noqa: UP007 (a runtime alias)


def response(
    status: int | bytes,
    body: bytes | str = b"",
    headers: Sequence[tuple[str | bytes, str | bytes]] = (),
    *,
    reason: str | bytes = b"Whatever",
    length: bool = True,
) -> bytes:
    """A whole answer as bytes, exactly as given: nothing is checked or escaped."""
    data = body.encode() if isinstance(body, str) else body

    def raw(text: str | bytes | int) -> bytes:
        return text if isinstance(text, bytes) else str(text).encode()

    lines = [b"HTTP/1.1 " + raw(status) + b" " + raw(reason)]
    lines += [raw(name) + b": " + raw(value) for name, value in headers]
    if length:
        lines.append(b"Content-Length: " + raw(len(data)))
    return b"\r\n".join(lines) + b"\r\n\r\n" + data


@dataclass
class HostileServer:
    answers: Sequence[Sequence[Step]]
    tls: ssl.SSLContext | None = None
    scheme: str | None = None  # what the URL says; defaults to what the server speaks
    read: bool = True  # read a request before answering; False to answer a TLS hello with bytes
    received: list[bytes] = field(default_factory=list)
    connections: int = 0
    answering: threading.Event = field(default_factory=threading.Event)  # first step sent
    stopping: threading.Event = field(default_factory=threading.Event)

    def __enter__(self) -> HostileServer:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.open: list[socket.socket] = []
        self.threads = [threading.Thread(target=self.accept, daemon=True)]
        self.threads[0].start()
        return self

    def __exit__(self, *exc: object) -> None:
        """Every thread is out before a socket is closed: a thread still in accept() or send()
        on a closed socket's number would act on the next socket given that number, such as
        the next test's own server, and answer its requests with this server's bytes."""
        self.stopping.set()
        for each in [self.listener, *self.open]:
            with contextlib.suppress(OSError):
                each.shutdown(socket.SHUT_RDWR)  # wakes a thread blocked on it
        for thread in self.threads:
            thread.join(timeout=10)
        for each in [self.listener, *self.open]:
            each.close()

    @property
    def url(self) -> str:
        scheme = self.scheme or ("https" if self.tls else "http")
        return f"{scheme}://127.0.0.1:{self.listener.getsockname()[1]}"

    def accept(self) -> None:
        while not self.stopping.is_set():
            try:
                connection, _ = self.listener.accept()
            except OSError:
                return
            self.open.append(connection)
            answer = self.answers[min(self.connections, len(self.answers) - 1)]
            self.connections += 1
            serving = threading.Thread(target=self.serve, args=(connection, answer), daemon=True)
            self.threads.append(serving)
            serving.start()

    def serve(self, connection: socket.socket, answer: Sequence[Step]) -> None:
        try:
            connection.settimeout(30)
            if self.tls:
                connection = self.tls.wrap_socket(connection, server_side=True)
                self.open.append(connection)
            request = read_request(connection) if self.read else b""
            self.received.append(request)
            for step in answer:
                self.play(connection, step, request)
                self.answering.set()
        except OSError:
            pass  # the client hung up, as it should when its time is up

    def play(self, connection: socket.socket, step: Step, request: bytes) -> None:
        if isinstance(step, bytes):
            connection.sendall(step)
        elif isinstance(step, Trickle):
            for byte in step.data:
                connection.sendall(bytes([byte]))
                if self.stopping.wait(step.every):
                    return
        elif isinstance(step, Repeat):
            while not self.stopping.is_set():
                connection.sendall(step.data)
                self.answering.set()
                if step.every and self.stopping.wait(step.every):
                    return
        else:
            connection.sendall(step(request))


def read_request(connection: socket.socket) -> bytes:
    """The request line, headers and body (by Content-Length), as they came."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = connection.recv(65536)
        if not chunk:
            return data
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip() or 0)
    while len(body) < length:
        chunk = connection.recv(65536)
        if not chunk:
            break
        body += chunk
    return head + b"\r\n\r\n" + body


def header(request: bytes, name: bytes) -> bytes:
    """A header's value in a raw request, or b''."""
    for line in request.split(b"\r\n\r\n", 1)[0].split(b"\r\n")[1:]:
        found, _, value = line.partition(b":")
        if found.strip().lower() == name.lower():
            return value.strip()
    return b""
