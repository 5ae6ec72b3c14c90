"""HTTP front: Wix's paths, auth, rate limit and faults, plus the /_sandbox/ control API."""

from __future__ import annotations

import contextlib
import json
import re
import socket
import sys
import threading
import time
import traceback
import uuid
from collections import Counter, deque
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlsplit

from . import seed
from .errors import ApiError, app_error, invalid
from .faults import RESET, Faults
from .jobs import BulkJobs
from .ratelimit import SlidingWindow
from .store import Store, dumps
from .webhooks import Webhooks

CONTROL_PREFIX = "/_sandbox/"


class App:
    """Everything a request handler needs; one per running sandbox."""

    def __init__(
        self,
        *,
        store: Store,
        api_key: str,
        site_id: str,
        app_id: str,
        app_secret: str,
        instance_id: str,
        token_lifetime: int,
        rate_limit: SlidingWindow,
        faults: Faults,
        jobs: BulkJobs,
        webhooks: Webhooks,
        quiet: bool = False,
    ):
        self.store = store
        self.api_key = api_key
        self.app_id, self.app_secret, self.instance_id = app_id, app_secret, instance_id
        self.token_lifetime = token_lifetime
        self.tokens: dict[str, float] = {}  # access token -> when it expires (monotonic)
        self._tokens_lock = threading.Lock()
        self.site_id = site_id
        self.rate_limit = rate_limit
        self.faults = faults
        self.jobs = jobs
        self.webhooks = webhooks
        self.quiet = quiet
        self._stats_lock = threading.Lock()
        self.reset_stats()

    def reset_stats(self) -> None:
        with self._stats_lock:
            self.requests = 0
            self.by_status: Counter[str] = Counter()
            self.by_route: Counter[str] = Counter()
            # Arrivals in the last 60 s, and the most there ever were: how close callers came
            # to the site's budget, whatever the rate limit is set to.
            self._recent: deque[float] = deque()
            self.busiest_minute = 0

    def count(self, route: str, status: str) -> None:
        now = time.monotonic()
        with self._stats_lock:
            self.requests += 1
            self.by_status[status] += 1
            self.by_route[route] += 1
            self._recent.append(now)
            while self._recent[0] <= now - 60:
                self._recent.popleft()
            self.busiest_minute = max(self.busiest_minute, len(self._recent))

    def stats(self) -> dict:
        with self._stats_lock:
            return {
                "requests": self.requests,
                "byStatus": dict(self.by_status),
                "byRoute": dict(self.by_route),
                "busiestMinute": self.busiest_minute,
            }

    def reseed(self, contacts: int, labels: int, seed_value: int) -> None:
        generated = seed.generate(contacts, labels, seed_value)
        with self.store.lock:
            self.jobs.clear()
            self.store.replace_all(*generated)
            self.store.on_change()
        self.reset_stats()


# -- Wix API ------------------------------------------------------------------------------------


class Request:
    def __init__(self, params: dict, query: dict[str, list[str]], body: dict):
        self.params = params
        self.query = query
        self.body = body

    def one(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[-1] if values else None


def _json(value: object) -> bytes:
    return dumps(value)


def _label_churn(app: App):
    return lambda: app.faults.chance(app.faults.label_churn)


def list_labels(app: App, request: Request) -> bytes:
    faults = app.faults
    return _json(app.store.list_labels(request.query, faults.short_pages, _label_churn(app)))


def find_or_create_label(app: App, request: Request) -> bytes:
    label, created = app.store.find_or_create_label(request.body.get("displayName"))
    return _json({"label": label, "newLabel": created})


def query_labels(app: App, request: Request) -> bytes:
    query = request.body.get("query")
    return _json(app.store.query_labels(query, app.faults.short_pages, _label_churn(app)))


def get_label(app: App, request: Request) -> bytes:
    return _json({"label": app.store.get_label(request.params["key"])})


def rename_label(app: App, request: Request) -> bytes:
    label = request.body.get("label")
    if not isinstance(label, dict) or "displayName" not in label:
        raise invalid("label.displayName", "is required", "REQUIRED_FIELD")
    renamed = app.store.rename_label(request.params["key"], label["displayName"])
    return _json({"label": renamed})


def delete_label(app: App, request: Request) -> bytes:
    app.store.delete_label(request.params["key"])
    return b"{}"


def create_contact(app: App, request: Request) -> bytes:
    return app.store.create_contact(request.body)


def list_contacts(app: App, request: Request) -> bytes:
    query: dict = {"paging": {}}
    for name in ("limit", "offset"):
        if (value := request.one(f"paging.{name}")) is not None:
            query["paging"][name] = value
    if (field := request.one("sort.fieldName")) is not None:
        query["sort"] = [{"fieldName": field, "order": request.one("sort.order") or "ASC"}]
    if fieldsets := request.query.get("fieldsets"):
        query["fieldsets"] = fieldsets
    if fields := request.query.get("fields"):
        query["fields"] = fields
    return app.store.query_contacts(query, app.faults.short_pages)


def query_contacts(app: App, request: Request) -> bytes:
    return app.store.query_contacts(request.body.get("query"), app.faults.short_pages)


def get_contact(app: App, request: Request) -> bytes:
    fieldsets = request.query.get("fieldsets") or ["FULL"]
    return app.store.get_contact(request.params["id"], fieldsets[-1])


def update_contact(app: App, request: Request) -> bytes:
    return app.store.update_contact(request.params["id"], request.body)


def delete_contact(app: App, request: Request) -> bytes:
    app.store.delete_contact(request.params["id"])
    return b"{}"


def label_contact(app: App, request: Request) -> bytes:
    return app.store.label_contact(request.params["id"], request.body.get("labelKeys"))


def unlabel_contact(app: App, request: Request) -> bytes:
    keys = request.query.get("labelKeys") or request.body.get("labelKeys")
    return app.store.unlabel_contact(request.params["id"], keys)


def facets(app: App, request: Request) -> bytes:
    return _json(app.store.facets())


def bulk_add_remove_labels(app: App, request: Request) -> bytes:
    return _json({"jobId": app.jobs.submit(request.body, app.faults)})


def list_bulk_jobs(app: App, request: Request) -> bytes:
    return _json({"jobs": app.jobs.list()})


def get_bulk_job(app: App, request: Request) -> bytes:
    return _json({"job": app.jobs.get(request.params["id"])})


Handler = Callable[[App, Request], bytes]


def create_access_token(app: App, request: Request) -> bytes:
    """OAuth client credentials ("Create Access Token"): a token for the one app instance."""
    body = request.body
    if body.get("grant_type") != "client_credentials":
        raise invalid("grant_type", "must be client_credentials", "OTHER")
    wanted = (app.app_id, app.app_secret, app.instance_id)
    if (body.get("client_id"), body.get("client_secret"), body.get("instance_id")) != wanted:
        raise app_error(401, "UNAUTHENTICATED", "Unknown app, wrong secret or unknown instance")
    token = f"sandbox-token-{uuid.uuid4()}"
    with app._tokens_lock:
        app.tokens[token] = time.monotonic() + app.token_lifetime
    return _json({"access_token": token, "token_type": "Bearer", "expires_in": app.token_lifetime})


def _valid_token(app: App, value: str | None) -> bool:
    with app._tokens_lock:
        expires = app.tokens.get(value or "")
    return expires is not None and expires > time.monotonic()


TOKEN_PATH = "/oauth2/token"
ROUTES: list[tuple[str, dict[str, Handler]]] = [
    (TOKEN_PATH, {"POST": create_access_token}),
    ("/contacts/v4/labels", {"GET": list_labels, "POST": find_or_create_label}),
    ("/contacts/v4/labels/query", {"POST": query_labels}),
    (
        "/contacts/v4/labels/{key}",
        {"GET": get_label, "PATCH": rename_label, "DELETE": delete_label},
    ),
    ("/contacts/v4/contacts", {"GET": list_contacts, "POST": create_contact}),
    ("/contacts/v4/contacts/query", {"POST": query_contacts}),
    ("/contacts/v4/contacts/facets", {"GET": facets}),
    ("/contacts/v4/contacts/facets/query", {"POST": facets}),
    (
        "/contacts/v4/contacts/{id}",
        {"GET": get_contact, "PATCH": update_contact, "DELETE": delete_contact},
    ),
    ("/contacts/v4/contacts/{id}/labels", {"POST": label_contact, "DELETE": unlabel_contact}),
    ("/contacts/v4/bulk/contacts/add-remove-labels", {"POST": bulk_add_remove_labels}),
    ("/contacts/v4/bulk/jobs", {"GET": list_bulk_jobs}),
    ("/contacts/v4/bulk/jobs/{id}", {"GET": get_bulk_job}),
]

_COMPILED = [
    (re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", pattern) + "$"), pattern, methods)
    for pattern, methods in ROUTES
]


def find_route(path: str) -> tuple[str, dict[str, Handler], dict] | None:
    for regex, pattern, methods in _COMPILED:
        found = regex.match(path)
        if found:
            return pattern, methods, {k: unquote(v) for k, v in found.groupdict().items()}
    return None


def match(method: str, path: str) -> tuple[Handler, dict]:
    """The handler and path params; raises 404/405 in Wix's shape."""
    route = find_route(path)
    if route is None:
        raise app_error(404, "NOT_FOUND", f"No API at {path}")
    pattern, methods, params = route
    handler = methods.get(method)
    if handler is None:
        raise app_error(
            405,
            "METHOD_NOT_ALLOWED",
            f"{method} is not allowed on {pattern}; use {', '.join(methods)}",
        )
    return handler, params


def authenticate(app: App, headers, path: str) -> None:
    if path == TOKEN_PATH:
        return  # the credentials are in the body
    token = headers.get("Authorization")
    if _valid_token(app, token):
        return  # an app's access token names its site already
    if token != app.api_key:
        raise app_error(401, "UNAUTHENTICATED", "Missing or invalid API key or access token")
    site, account = headers.get("wix-site-id"), headers.get("wix-account-id")
    if site is not None and account is not None:
        raise app_error(400, "INVALID_ARGUMENT", "Send wix-site-id or wix-account-id, not both")
    if site != app.site_id:
        raise app_error(403, "PERMISSION_DENIED", "Missing or unknown wix-site-id")


def parse_body(raw: bytes) -> dict:
    if not raw.strip():
        return {}
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as error:
        raise invalid("", f"Malformed JSON body: {error}", "FORMAT") from None
    if not isinstance(body, dict):
        raise invalid("", "The JSON body must be an object", "FORMAT")
    return body


# -- control API --------------------------------------------------------------------------------


class ControlError(Exception):
    pass


def _control(app: App, method: str, path: str, body: dict) -> tuple[int, bytes, str]:
    store = app.store
    route = (method, path)
    if route == ("GET", "health"):
        with store.lock:
            counts = {"contacts": len(store.contacts), "labels": len(store.labels)}
        return 200, _json({"ok": True, **counts}), "application/json"
    if route == ("POST", "reset"):
        app.reseed(_count(body, "contacts"), _count(body, "labels"), int(body.get("seed", 1)))
        return _control(app, "GET", "health", {})
    if route == ("POST", "faults"):
        try:
            app.faults = Faults(body.get("spec") or "", body.get("seed"))
        except ValueError as error:
            raise ControlError(str(error)) from None
        return 200, _json({"spec": app.faults.spec, "seed": app.faults.seed}), "application/json"
    if route == ("POST", "rate-limit"):
        app.rate_limit.set(_count(body, "perMinute"))
        return 200, _json({"perMinute": app.rate_limit.per_minute}), "application/json"
    if route == ("GET", "stats"):
        return 200, _json(app.stats()), "application/json"
    if route == ("POST", "tokens/revoke"):
        with app._tokens_lock:
            revoked = len(app.tokens)
            app.tokens.clear()
        return 200, _json({"revoked": revoked}), "application/json"
    if route == ("POST", "stats/reset"):
        app.reset_stats()
        return 200, _json(app.stats()), "application/json"
    if route == ("GET", "dump"):
        return 200, _json(store.dump()), "application/json"
    if route == ("POST", "webhooks/url"):
        url = body.get("url")
        if url is not None and not isinstance(url, str):
            raise ControlError("url must be a string or null")
        app.webhooks.url = url or None
        return 200, _json({"url": app.webhooks.url}), "application/json"
    if route == ("POST", "webhooks/flush"):
        return 200, _json(app.webhooks.flush(float(body.get("timeout", 10)))), "application/json"
    if route == ("GET", "webhook-public-key"):
        return 200, app.webhooks.public_pem.encode(), "text/plain; charset=utf-8"
    if route == ("GET", "bulk-jobs/pace"):
        return 200, _json({"itemsPerSecond": app.jobs.items_per_second}), "application/json"
    if route == ("POST", "bulk-jobs/pace"):
        app.jobs.items_per_second = _count(body, "itemsPerSecond")
        return 200, _json({"itemsPerSecond": app.jobs.items_per_second}), "application/json"
    raise ControlError(f"no control endpoint {method} /_sandbox/{path}")


def _count(body: dict, name: str) -> int:
    value = body.get(name, 0)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ControlError(f"{name} must be a whole number >= 0")
    return value


# -- HTTP -----------------------------------------------------------------------------------------


class SandboxHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "wixsandbox"
    server: SandboxServer

    def setup(self) -> None:
        super().setup()
        # Without this, Nagle's algorithm and delayed ACKs add ~40 ms to keep-alive responses.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def do_GET(self) -> None:
        self._dispatch()

    do_POST = do_PATCH = do_DELETE = do_PUT = do_HEAD = do_GET

    def log_message(self, format: str, *args) -> None:
        if not self.server.app.quiet:
            sys.stderr.write(f"{self.address_string()} {format % args}\n")

    def _dispatch(self) -> None:
        app = self.server.app
        raw = self._read_body()
        split = urlsplit(self.path)
        if split.path.startswith(CONTROL_PREFIX):
            self._serve_control(app, split.path[len(CONTROL_PREFIX) :], raw)
        else:
            self._serve_api(app, split.path, split.query, raw)

    def _read_body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _serve_control(self, app: App, path: str, raw: bytes) -> None:
        try:
            body = json.loads(raw) if raw.strip() else {}
            if not isinstance(body, dict):
                raise ControlError("the body must be a JSON object")
            status, data, content_type = _control(app, self.command, path.rstrip("/"), body)
        except (ControlError, ValueError) as error:
            status, data, content_type = 400, _json({"error": str(error)}), "application/json"
        self._send(status, data, content_type=content_type)

    def _serve_api(self, app: App, path: str, query: str, raw: bytes) -> None:
        method = self.command
        found = find_route(path)
        route = found[0] if found else "<unknown>"
        try:
            wait = app.rate_limit.admit()
            if wait is not None:
                raise app_error(
                    429,
                    "RESOURCE_EXHAUSTED",
                    "Too many requests; slow down",
                    {"retryAfterSeconds": wait},
                    {"Retry-After": str(wait)},
                )
            if app.faults.active:
                fault = app.faults.draw()
                if fault.delay:
                    time.sleep(fault.delay)
                if fault.outcome == RESET:
                    app.count(f"{method} {route}", RESET)
                    self._drop_connection()
                    return
                if fault.outcome == "429":
                    raise app_error(
                        429,
                        "RESOURCE_EXHAUSTED",
                        "Too many requests (injected fault)",
                        headers={"Retry-After": "1"},
                    )
                if fault.outcome is not None:
                    raise ApiError(int(fault.outcome), None)
            handler, params = match(method, path)
            authenticate(app, self.headers, path)
            body = parse_body(raw)
            request = Request(params, parse_qs(query, keep_blank_values=True), body)
            status, data, headers = 200, handler(app, request), {}
            late = app.faults.answer_delay(method)
            if late:
                time.sleep(late)  # done, but the client hears of it only now
        except ApiError as error:
            status, headers = error.status, error.headers
            data = _json(error.body) if error.body is not None else b""
        except Exception:
            traceback.print_exc()
            status, data, headers = 500, b"", {}
        app.count(f"{method} {route}", str(status))
        self._send(status, data, headers)

    def _drop_connection(self) -> None:
        self.close_connection = True
        # OSError: the client went away first, so there is nothing left to drop.
        with contextlib.suppress(OSError):
            self.connection.shutdown(socket.SHUT_RDWR)

    def _send(
        self,
        status: int,
        data: bytes,
        headers: dict | None = None,
        content_type: str = "application/json",
    ) -> None:
        self.send_response(status)
        if data:
            self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        if data and self.command != "HEAD":
            self.wfile.write(data)


class SandboxServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256

    def __init__(self, address: tuple[str, int], app: App):
        super().__init__(address, SandboxHandler)
        self.app = app
