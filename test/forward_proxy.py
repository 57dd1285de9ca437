"""A small forward proxy on loopback, as a self-hosted runner's network would have.

It tunnels CONNECT requests (how HTTPS goes through a proxy) and keeps one log line per request,
with its headers, as a verbose proxy does: a test can see which requests went through it, and all
that it saw of them.
"""

from __future__ import annotations

import select
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from socketserver import StreamRequestHandler, ThreadingTCPServer


class TunnelHandler(StreamRequestHandler):
    def handle(self) -> None:
        request_line = self.rfile.readline(65537).decode("latin-1").strip()
        headers = []
        while (line := self.rfile.readline(65537)) not in (b"\r\n", b"\n", b""):
            headers.append(line.decode("latin-1").strip())
        # Logged whole, headers too, as a verbose proxy would: all it saw of the request.
        self.server.log.append(" | ".join([request_line, *headers]))  # type: ignore[attr-defined]
        method, target, _ = request_line.split(" ", 2)
        if method != "CONNECT":
            self.wfile.write(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
            return
        host, port = target.rsplit(":", 1)
        with socket.create_connection((host, int(port)), timeout=10) as upstream:
            self.wfile.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            self.wfile.flush()
            relay(self.connection, upstream)


def relay(client: socket.socket, upstream: socket.socket) -> None:
    sockets = [client, upstream]
    while True:
        readable, _, _ = select.select(sockets, [], [], 10)
        if not readable:
            return
        for source in readable:
            data = source.recv(65536)
            if not data:
                return
            (upstream if source is client else client).sendall(data)


@contextmanager
def forward_proxy() -> Iterator[tuple[str, list[str]]]:
    """Yield the proxy's URL and its log, one request line per request."""
    server = ThreadingTCPServer(("127.0.0.1", 0), TunnelHandler)
    server.daemon_threads = True
    server.log = []  # type: ignore[attr-defined]
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
    )
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", server.log  # type: ignore[attr-defined]
    finally:
        server.shutdown()
        server.server_close()
