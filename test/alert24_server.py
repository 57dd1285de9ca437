"""A local stand-in for Alert24's Changes API, strict where the documented contract is.

It checks the key, the fields and their values as Alert24's API reference documents them, answers
with Alert24's error shape and an X-Request-Id on every response, and can be scripted with faults:
a sequence of answers consumed one per request, then the contract again. It is stricter than
Alert24 in one way on purpose: an undocumented field is a 400, so the pipe can never drift into
sending one unnoticed. Its lists of fields and values are written out again from the API
document, on purpose: importing the pipe's own would let a mistake in them pass unseen.

It keeps what it records, and lists it back as the documented list endpoints do
(`GET /api/v1/changes`, `GET /api/v1/services/{id}/changes`): `limit` (default 25, at most 100)
and `offset`, `{"data": [...], "meta": {"total", "limit", "offset", "has_more"}}`, newest first,
each item the fields posted plus `id` and `created_at`. Field values given as query parameters
filter the list, unless it is told to ignore them (Alert24 does not document which it honours).
Tests seed it with earlier changes (`seed`), and can make the key one without read access.
Requests to record a change land in `received`, and list requests in `listed`; `script` and
`script_lists` script each kind on its own, so a fault meant for the change never hits a lookup.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import ssl
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

CHANGE_TYPES = {
    "deployment",
    "config_change",
    "infrastructure",
    "code",
    "database_migration",
    "feature_flag",
    "rollback",
    "scaling",
    "security_patch",
    "other",
}
RISK_LEVELS = {"low", "medium", "high", "critical"}
# What Alert24 documents it fills in for a field left out of a POST.
SERVER_DEFAULTS = {
    "change_type": "deployment",
    "source": "api",
    "environment": "production",
    "risk_level": "low",
}
STRING_FIELDS = {
    "summary",
    "service_id",
    "change_type",
    "description",
    "source",
    "commit_sha",
    "commit_message",
    "branch",
    "pr_number",
    "pr_url",
    "pipeline_url",
    "environment",
    "risk_level",
    "changed_by",
    "external_id",
}

Action = Callable[["Handler"], None]

LIST_PATH = re.compile(r"/api/v1/(?:services/(?P<service>[^/?]+)/)?changes")
LIST_DEFAULT_LIMIT = 25
LIST_MAX_LIMIT = 100
# Recorded changes are stamped on a clock of their own, one minute apart, so that the order of
# created_at is the order of recording whatever the machine's clock does.
EPOCH = datetime(2026, 3, 19, 14, 30, tzinfo=UTC)


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class Alert24Server:
    api_key: str
    host: str = "127.0.0.1"
    tls: ssl.SSLContext | None = None  # serve HTTPS with this context's certificate
    received: list[Received] = field(default_factory=list)
    actions: list[Action] = field(default_factory=list)
    stopping: threading.Event = field(default_factory=threading.Event)
    changes: int = 0
    listed: list[Received] = field(default_factory=list)  # the list requests, apart
    list_actions: list[Action] = field(default_factory=list)
    stored: list[dict[str, Any]] = field(default_factory=list)  # oldest first
    can_read: bool = True  # False: the key lacks the read scope, and lists answer 403
    ignores_filters: bool = False  # True: lists answer as if no field filter had been given
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __enter__(self) -> Alert24Server:
        self.httpd = ThreadingHTTPServer((self.host, 0), Handler)
        self.httpd.daemon_threads = True
        self.httpd.owner = self  # type: ignore[attr-defined]
        if self.tls:
            self.httpd.socket = self.tls.wrap_socket(self.httpd.socket, server_side=True)
        # A short poll: shutdown() waits for the loop to notice, 0.5 s by default, in every test
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
        )
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        self.httpd.shutdown()
        self.httpd.server_close()

    @property
    def url(self) -> str:
        scheme = "https" if self.tls else "http"
        return f"{scheme}://{self.host}:{self.httpd.server_address[1]}"

    def script(self, *actions: Action) -> None:
        """Answer the next requests with these, in order; then follow the contract again."""
        self.actions.extend(actions)

    def next_action(self) -> Action:
        return self.actions.pop(0) if self.actions else contract

    def script_lists(self, *actions: Action) -> None:
        """Answer the next list requests with these, in order; then the contract again."""
        self.list_actions.extend(actions)

    def next_list_action(self) -> Action:
        return self.list_actions.pop(0) if self.list_actions else contract

    def seed(self, *changes: dict[str, Any], created_at: bool = True) -> list[dict[str, Any]]:
        """Hold these as changes recorded earlier, in this order (the last is the newest);
        with created_at False, their items carry no created_at, as Alert24 may not."""
        return [self.store(change, stamped=created_at) for change in changes]

    def store(self, change: dict[str, Any], *, stamped: bool = True) -> dict[str, Any]:
        with self.lock:  # requests are served on threads of their own
            self.changes += 1
            item = {"id": f"chg_{self.changes:04d}", **change}
            if stamped:
                when = EPOCH + timedelta(minutes=self.changes)
                item["created_at"] = when.strftime("%Y-%m-%dT%H:%M:%S.") + "000Z"
            self.stored.append(item)
            return item


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        self.handle_any()

    def do_GET(self) -> None:
        self.handle_any()

    def handle_any(self) -> None:
        owner: Alert24Server = self.server.owner  # type: ignore[attr-defined]
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length)
        self.seen = Received(self.command, self.path, dict(self.headers), body)
        if self.command == "GET":
            owner.listed.append(self.seen)
            owner.next_list_action()(self)
        else:
            owner.received.append(self.seen)
            owner.next_action()(self)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the tests assert on what the pipe prints, not on the server's chatter

    @property
    def owner(self) -> Alert24Server:
        return self.server.owner  # type: ignore[attr-defined]

    def answer(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        headers = headers or {}
        self.send_response(status)
        if "x-request-id" not in {name.lower() for name in headers}:
            self.send_header("X-Request-Id", f"req-{len(self.owner.received)}")
        self.send_header("Content-Length", str(len(body)))
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()
        with contextlib.suppress(OSError):  # the pipe hung up, as it does after its TIMEOUT
            self.wfile.write(body)


def error_body(status: int, error_type: str, message: str) -> bytes:
    return json.dumps(
        {"error": {"type": error_type, "message": message, "status": status}}
    ).encode()


def problem_with(request: Received, api_key: str) -> tuple[int, str, str] | None:
    """What Alert24 would refuse in this request, as (status, type, message), or None."""
    if not LIST_PATH.fullmatch(request.path) or request.method != "POST":
        return 404, "not_found", f"No route {request.method} {request.path}"
    if request.headers.get("Authorization") != f"Bearer {api_key}":
        return 401, "authentication_error", "Invalid API key"
    if request.headers.get("Content-Type") != "application/json":
        return 400, "validation_error", "Content-Type must be application/json"
    try:
        change = json.loads(request.body.decode("utf-8"))
    except ValueError:
        return 400, "validation_error", "Body is not valid JSON"
    return problem_with_change(change)


def problem_with_change(change: Any) -> tuple[int, str, str] | None:
    if not isinstance(change, dict):
        return 400, "validation_error", "Body must be an object"
    for name, value in change.items():
        if name == "tags":
            if not (isinstance(value, list) and all(isinstance(t, str) and t for t in value)):
                return 400, "validation_error", "tags must be an array of strings"
        elif name not in STRING_FIELDS:
            return 400, "validation_error", f"Unknown field: {name}"
        elif not isinstance(value, str) or not value:
            return 400, "validation_error", f"{name} must be a non-empty string"
    if "summary" not in change:
        return 400, "validation_error", "summary is required"
    if change.get("change_type", "deployment") not in CHANGE_TYPES:
        return 400, "validation_error", "change_type is invalid"
    if change.get("risk_level", "low") not in RISK_LEVELS:
        return 400, "validation_error", "risk_level is invalid"
    return None


def contract(handler: Handler) -> None:
    if handler.seen.method == "GET":
        list_contract(handler)
        return
    owner = handler.owner
    problem = problem_with(handler.seen, owner.api_key)
    if problem:
        status, error_type, message = problem
        handler.answer(status, error_body(status, error_type, message))
        return
    change = handler.seen.json
    service = LIST_PATH.fullmatch(handler.seen.path).group("service")  # type: ignore[union-attr]
    if service:
        if change.get("service_id", service) != service:
            handler.answer(400, error_body(400, "validation_error", "service_id does not match"))
            return
        change = {**change, "service_id": service}
    item = owner.store({**SERVER_DEFAULTS, **change})
    handler.answer(201, json.dumps({"data": item}).encode(), {"Content-Type": "application/json"})


def list_contract(handler: Handler) -> None:
    owner = handler.owner
    problem, answer = listing(handler.seen, owner)
    if problem:
        status, error_type, message = problem
        handler.answer(status, error_body(status, error_type, message))
        return
    handler.answer(200, json.dumps(answer).encode(), {"Content-Type": "application/json"})


def listing(
    request: Received, owner: Alert24Server
) -> tuple[tuple[int, str, str] | None, dict[str, Any]]:
    """The page a list request asks for, or what Alert24 would refuse in it."""
    parts = urlsplit(request.path)
    route = LIST_PATH.fullmatch(parts.path)
    if not route:
        return (404, "not_found", f"No route GET {parts.path}"), {}
    if request.headers.get("Authorization") != f"Bearer {owner.api_key}":
        return (401, "authentication_error", "Invalid API key"), {}
    if not owner.can_read:
        return (403, "authorization_error", "API key missing required scope: read"), {}
    query = parse_qs(parts.query, keep_blank_values=True)
    if any(len(values) > 1 for values in query.values()):
        return (400, "validation_error", "A query parameter is repeated"), {}
    given = {name: values[0] for name, values in query.items()}
    limit = given.pop("limit", str(LIST_DEFAULT_LIMIT))
    offset = given.pop("offset", "0")
    if not (limit.isascii() and limit.isdigit() and 1 <= int(limit) <= LIST_MAX_LIMIT):
        return (400, "validation_error", f"limit must be from 1 to {LIST_MAX_LIMIT}"), {}
    if not (offset.isascii() and offset.isdigit()):
        return (400, "validation_error", "offset must be a whole number"), {}
    unknown = sorted(set(given) - STRING_FIELDS)
    if unknown:
        return (400, "validation_error", f"Unknown filter: {unknown[0]}"), {}
    if owner.ignores_filters:
        given = {}
    if route.group("service"):
        given["service_id"] = route.group("service")  # the path is no filter: it always holds
    with owner.lock:
        items = [item for item in reversed(owner.stored) if matches(item, given)]
    start, count = int(offset), int(limit)
    more = start + count < len(items)
    meta = {"total": len(items), "limit": count, "offset": start, "has_more": more}
    return None, {"data": items[start : start + count], "meta": meta}


def matches(item: dict[str, Any], filters: dict[str, str]) -> bool:
    return all(item.get(name) == value for name, value in filters.items())


# Faults, for Alert24Server.script ---------------------------------------------------------------


def respond(status: int, body: bytes | str = b"", headers: dict[str, str] | None = None) -> Action:
    data = body.encode() if isinstance(body, str) else body
    return lambda handler: handler.answer(status, data, headers)


def alert24_error(status: int, error_type: str, message: str, **headers: str) -> Action:
    return respond(status, error_body(status, error_type, message), headers)


def delay(seconds: float, then: Action = contract) -> Action:
    def act(handler: Handler) -> None:
        handler.owner.stopping.wait(seconds)
        then(handler)

    return act


def drop(handler: Handler) -> None:
    """Close the connection without a word (a reset, as a crashed load balancer does)."""
    handler.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    handler.close_connection = True
    handler.connection.close()


def hang(handler: Handler) -> None:
    """Accept the request and never answer."""
    handler.owner.stopping.wait(60)
    handler.close_connection = True


def huge(megabytes: int, status: int = 201) -> Action:
    def act(handler: Handler) -> None:
        handler.send_response(status)
        handler.send_header("X-Request-Id", "req-huge")
        handler.send_header("Content-Length", str(megabytes * 1024 * 1024))
        handler.end_headers()
        chunk = b"x" * 65536
        try:
            for _ in range(megabytes * 16):
                handler.wfile.write(chunk)
        except OSError:
            pass  # the pipe stops reading early, as it should

    return act


def echo_request(status: int) -> Action:
    """Answer with the request's own headers in the error message, as some proxies do."""

    def act(handler: Handler) -> None:
        echoed = json.dumps(dict(handler.headers))
        handler.answer(status, error_body(status, "validation_error", echoed))

    return act


def foreign(status: int, body: str) -> Action:
    """An answer from something that is not Alert24: no X-Request-Id, no error shape."""

    def act(handler: Handler) -> None:
        data = body.encode()
        handler.send_response(status)
        handler.send_header("Content-Type", "text/html")
        handler.send_header("Content-Length", str(len(data)))
        handler.end_headers()
        handler.wfile.write(data)

    return act


def drip(status: int = 201, every: float = 0.2) -> Action:
    """Answer at once with a status, then drip a long body one byte at a time."""

    def act(handler: Handler) -> None:
        handler.send_response(status)
        handler.send_header("X-Request-Id", "req-drip")
        handler.send_header("Content-Length", "100000")
        handler.end_headers()
        try:
            while not handler.owner.stopping.wait(every):
                handler.wfile.write(b"x")
                handler.wfile.flush()
        except OSError:
            pass  # the pipe hung up, as it should

    return act


def main() -> None:
    """`python test/alert24_server.py --port N --api-key K [--host H]`: serve until stopped.

    For tests that need it in another process or container (test/test_docker_image.py), and
    for a person trying the pipe locally. It prints one line once it listens, which the tests
    wait for; then, for each change it receives (every POST, recorded or refused), its body as
    one line of JSON. `GET /api/v1/changes` with the key lists those it recorded. Ctrl-C ends it.
    """
    import argparse  # noqa: PLC0415 (only the command line needs it)
    import sys  # noqa: PLC0415

    class Printing(Handler):
        """Prints the body of each change received, on one line, once it has been answered."""

        def handle_any(self) -> None:
            super().handle_any()
            if self.command == "POST":
                print(one_line(self.seen.body), flush=True)

    def one_line(body: bytes) -> str:
        text = body.decode("utf-8", "replace")
        try:
            return json.dumps(json.loads(text), ensure_ascii=False)
        except ValueError:  # not JSON: shown as a JSON string, still on one line
            return json.dumps(text, ensure_ascii=False)

    parser = argparse.ArgumentParser(description="A local stand-in for Alert24's Changes API.")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--api-key", required=True)
    parser.add_argument("--host", default="127.0.0.1", help="0.0.0.0 to serve other containers")
    args = parser.parse_args()
    server = Alert24Server(api_key=args.api_key, host=args.host)
    try:
        server.httpd = ThreadingHTTPServer((args.host, args.port), Printing)
    except OSError as error:  # the port taken, most often by a stand-in still running
        sys.exit(
            f"Cannot listen on {args.host}:{args.port}: {error.strerror}. Stop what uses it, "
            "or pick another --port."
        )
    server.httpd.daemon_threads = True
    server.httpd.owner = server  # type: ignore[attr-defined]
    try:  # from the line that says it listens: Ctrl-C may come as soon as it is read
        print(f"Alert24 stand-in listening on {server.url}", flush=True)
        server.httpd.serve_forever()
    except KeyboardInterrupt:  # Ctrl-C: the way a person stops it, without a traceback
        pass
    finally:
        server.httpd.server_close()


if __name__ == "__main__":
    main()
