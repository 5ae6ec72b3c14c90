"""The one module that talks to Wix (CRM Labels and Contacts v4).

`WixClient` holds one `requests.Session` and gives every call connect/read timeouts, even
pacing, retries with backoff and typed exceptions. See docs/wix-contract.md for the choices
made where Wix's documentation is silent.
"""

import logging
import random
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sized
from dataclasses import asdict
from datetime import datetime
from typing import Any, Self
from urllib.parse import quote

import msgspec
import requests
import urllib3

from labelsite.wix.config import WixConfig
from labelsite.wix.errors import (
    WixAuthError,
    WixConflict,
    WixError,
    WixNotFound,
    WixPermissionDenied,
    WixQuotaExceeded,
    WixRateLimited,
    WixUnavailable,
    WixValidationError,
)
from labelsite.wix.pacing import Pacer, backoff_delay, parse_retry_after
from labelsite.wix.records import (
    BulkJob,
    ContactsPage,
    ContactWalkPage,
    LabelsPage,
    PagingMetadata,
    Record,
    WixContact,
    WixLabel,
    decode_contacts_page,
    wix_datetime,
)

logger = logging.getLogger("labelsite.wix")

USER_AGENT = "labelsite/0.1"
LABELS = "/contacts/v4/labels"
CONTACTS = "/contacts/v4/contacts"
BULK = "/contacts/v4/bulk"
OAUTH = "/oauth2/token"  # Wix's "Create Access Token" (OAuth client credentials)
TOKEN_RENEW_BEFORE_SECONDS = 300  # renew an access token this long before it expires
MAX_QUERY_PAGE = 1000
# Ids per `$in` filter. Wix documents no limit; a long list is one request too many to lose.
MAX_IN_LIST = 100

# ConnectionError covers refused/reset connections and ConnectTimeout, Timeout adds ReadTimeout,
# ChunkedEncodingError is a connection reset in the middle of a body.
_NETWORK_ERRORS = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
)

_ERRORS_BY_STATUS: dict[int, type[WixError]] = {
    400: WixValidationError,
    401: WixAuthError,
    403: WixPermissionDenied,
    404: WixNotFound,
    409: WixConflict,
    428: WixQuotaExceeded,
    429: WixRateLimited,
}


class _LabelCreated(Record):
    label: WixLabel
    new_label: bool = False


class _OneLabel(Record):
    label: WixLabel


class _OneContact(Record):
    contact: WixContact


class _JobStarted(Record):
    job_id: str


class _OneJob(Record):
    job: BulkJob


class _AccessToken(Record, rename=None):
    """Create Access Token's answer (OAuth names, not camelCase). Its exact shape is UNCONFIRMED:
    see docs/wix-contract.md."""

    access_token: str
    expires_in: float = 4 * 3600


class WixClient:
    """A client for one Wix site. Thread-safe as far as pacing and counters go."""

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str = "",
        site_id: str = "",
        app_id: str = "",
        app_secret: str = "",
        app_instance_id: str = "",
        max_requests_per_minute: int = 200,
        connect_timeout: float = 5.0,
        read_timeout: float = 30.0,
        max_retries: int = 5,
        backoff_base: float = 0.5,
        backoff_cap: float = 30.0,
        session: requests.Session | None = None,
        pacer: Pacer | None = None,
        sleep: Callable[[float], object] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self.config = WixConfig(
            base_url=base_url,
            api_key=api_key,
            site_id=site_id,
            app_id=app_id,
            app_secret=app_secret,
            app_instance_id=app_instance_id,
            max_requests_per_minute=max_requests_per_minute,
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            max_retries=max_retries,
            backoff_base=backoff_base,
            backoff_cap=backoff_cap,
        )
        self.base_url = base_url.rstrip("/")
        self.max_retries = max_retries
        self.backoff_base = backoff_base
        self.backoff_cap = backoff_cap
        self.timeout = (connect_timeout, read_timeout)
        # Anything with `wait()`: this process's own pace, or the site's shared budget.
        self.pacer = pacer or Pacer(max_requests_per_minute, clock=clock, sleep=sleep)
        self.request_count = 0
        self.retry_count = 0
        self._sleep = sleep
        self._clock = clock
        self._rng = rng
        self._counter_lock = threading.Lock()
        self._owns_session = session is None
        self.session = session or requests.Session()
        self.session.headers.update({"User-Agent": USER_AGENT, "Accept": "application/json"})
        if site_id:
            self.session.headers["wix-site-id"] = site_id
        # An API key as it is, or a Wix app's access token, made and renewed as needed.
        self._token: str = "" if self.config.app_mode else api_key
        self._token_expires = float("inf")
        self._token_lock = threading.Lock()

    @classmethod
    def from_settings(cls, **overrides: Any) -> Self:
        """Build a client from the WIX_* settings; raises WixConfigurationError at once."""
        return cls(**{**asdict(WixConfig.from_settings()), **overrides})

    def __repr__(self) -> str:
        who = (
            f"app_instance_id={self.config.app_instance_id!r}"
            if self.config.app_mode
            else f"site_id={self.config.site_id!r}"
        )
        return f"WixClient(base_url={self.base_url!r}, {who})"

    __str__ = __repr__

    def close(self) -> None:
        if self._owns_session:
            self.session.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # --- Labels -------------------------------------------------------------------------------

    def find_or_create_label(self, display_name: str) -> tuple[WixLabel, bool]:
        """Return (label, created): the label named exactly `display_name`, made if missing."""
        answer = self._request(
            "POST", LABELS, json={"displayName": display_name}, answer=_LabelCreated
        )
        return answer.label, answer.new_label

    def get_label(self, key: str) -> WixLabel:
        return self._request("GET", f"{LABELS}/{_segment(key)}", answer=_OneLabel).label

    def rename_label(self, key: str, display_name: str) -> WixLabel:
        body = {"label": {"displayName": display_name}}
        path = f"{LABELS}/{_segment(key)}"
        return self._request("PATCH", path, json=body, answer=_OneLabel).label

    def delete_label(self, key: str) -> None:
        self._request("DELETE", f"{LABELS}/{_segment(key)}", gone_is_done=True)

    def query_labels(
        self,
        *,
        filter: dict | None = None,
        sort: list[dict] | None = None,
        limit: int | None = None,
        offset: int | None = None,
    ) -> LabelsPage:
        query = _query(filter=filter, sort=sort, limit=limit, offset=offset)
        return self._request("POST", f"{LABELS}/query", json={"query": query}, answer=LabelsPage)

    def iter_labels(self, page_size: int = MAX_QUERY_PAGE) -> Iterator[WixLabel]:
        """Every label on the site, walking Query Labels page by page (each key once).

        A page shorter than asked for is not the end (Wix promises a maximum page size, not full
        pages): the walk ends on an empty page, or when the paging metadata says nothing
        remains. Offsets shift when a label is deleted meanwhile, so a walk can miss a label:
        callers confirm a label is gone (`get_label` answering 404) before they believe it.
        """
        _check_page_size(page_size)
        seen: set[str] = set()
        offset = 0
        while True:
            page = self.query_labels(limit=page_size, offset=offset)
            for label in page.labels:
                if label.key not in seen:
                    seen.add(label.key)
                    yield label
            offset += len(page.labels)
            if _walk_ended(page.labels, page.paging, offset):
                return

    # --- Contacts -----------------------------------------------------------------------------

    def query_contacts(
        self,
        *,
        filter: dict | None = None,
        sort: list[dict] | None = None,
        limit: int = 50,
        offset: int = 0,
        fieldsets: Iterable[str] | None = None,
    ) -> ContactsPage:
        query = _query(filter=filter, sort=sort, limit=limit, offset=offset)
        if fieldsets is not None:
            query["fieldsets"] = [fieldsets] if isinstance(fieldsets, str) else list(fieldsets)
        path = f"{CONTACTS}/query"
        return self._request(
            "POST", path, json={"query": query}, answer=ContactsPage, decode=decode_contacts_page
        )

    def walk_contacts(
        self,
        *,
        filter: dict | None = None,
        after: datetime | None = None,
        after_ids: frozenset[str] = frozenset(),
        page_size: int = MAX_QUERY_PAGE,
    ) -> Iterator[ContactWalkPage]:
        """Every matching contact (FULL fieldset), in pages, oldest first, from `after` on.

        Walks by created date rather than by offset, so contacts created or deleted while we
        page cannot shift others past us: each query asks for `createdDate >= ` the newest date
        seen, and drops the ids already taken at exactly that date (`after_ids`; `after` itself
        is inclusive). Only when a whole page shares one instant does it step an offset within
        it. Each page says which span of created dates it vouches for (see `ContactWalkPage`).
        """
        _check_page_size(page_size)
        lo, lo_ids, offset = after, after_ids, 0
        while True:
            conditions = [filter] if filter else []
            if lo is not None:
                conditions.insert(0, {"createdDate": {"$gte": wix_datetime(lo)}})
            answer = self.query_contacts(
                filter=_all_of(conditions),
                sort=[{"fieldName": "createdDate", "order": "ASC"}],
                limit=page_size,
                offset=offset,
                fieldsets=["FULL"],
            )
            raw = answer.contacts
            unread = answer.set_aside
            served = len(raw) + len(unread)
            last = _walk_ended(range(served), answer.paging_metadata, offset + served)
            fresh = tuple(c for c in raw if c.id not in lo_ids)
            if not served:
                yield ContactWalkPage((), lo, None, lo_ids, frozenset(), answer.total, last=True)
                return
            if not raw:
                # Nothing readable to take a date from: step on by offset within `lo`; the
                # page vouches for no span (hi == lo), so nothing is deleted on its account.
                yield ContactWalkPage((), lo, lo, lo_ids, lo_ids, answer.total, last, unread)
                if last:
                    return
                offset += served
                continue
            hi = raw[-1].created_date
            if lo is not None and hi == lo:
                # More contacts share one instant than a page holds: page by offset inside it.
                offset += served
                lo_ids = lo_ids | {c.id for c in raw}
                yield ContactWalkPage(fresh, lo, lo, lo_ids, lo_ids, answer.total, last, unread)
            else:
                next_lo_ids = frozenset(c.id for c in raw if c.created_date == hi)
                yield ContactWalkPage(
                    fresh, lo, hi, lo_ids, next_lo_ids, answer.total, last, unread
                )
                lo, lo_ids, offset = hi, next_lo_ids, 0
            if last:
                return

    def create_contact(self, info: dict) -> WixContact:
        """Make a contact (`manage.py wix_check --write` makes a throwaway one)."""
        return self._request("POST", CONTACTS, json={"info": info}, answer=_OneContact).contact

    def delete_contact(self, contact_id: str) -> None:
        self._request("DELETE", f"{CONTACTS}/{_segment(contact_id)}", gone_is_done=True)

    def find_contacts(self, contact_ids: Iterable[str]) -> dict[str, WixContact | None]:
        """A second look: those of `contact_ids` that Wix still has, by id (None for one that
        Wix has but that cannot be read: it exists all the same)."""
        found: dict[str, WixContact | None] = {}
        ids = list(dict.fromkeys(contact_ids))
        for start in range(0, len(ids), MAX_IN_LIST):
            batch = ids[start : start + MAX_IN_LIST]
            offset = 0
            while True:
                answer = self.query_contacts(
                    filter={"id": {"$in": batch}},
                    limit=len(batch),
                    offset=offset,
                    fieldsets=["FULL"],
                )
                found.update((contact.id, contact) for contact in answer.contacts)
                found.update((unread.id, None) for unread in answer.set_aside if unread.id in batch)
                served = len(answer.contacts) + len(answer.set_aside)
                offset += served
                if _walk_ended(range(served), answer.paging_metadata, offset):
                    break
        return found

    def label_contact(self, contact_id: str, label_keys: Iterable[str]) -> WixContact:
        body = {"labelKeys": list(label_keys)}
        path = f"{CONTACTS}/{_segment(contact_id)}/labels"
        return self._request("POST", path, json=body, answer=_OneContact).contact

    def unlabel_contact(self, contact_id: str, label_keys: Iterable[str]) -> WixContact:
        path = f"{CONTACTS}/{_segment(contact_id)}/labels"
        params = {"labelKeys": list(label_keys)}  # sent as ?labelKeys=a&labelKeys=b
        return self._request("DELETE", path, params=params, answer=_OneContact).contact

    def bulk_add_remove_labels(
        self,
        *,
        filter: dict | None = None,
        search: str | None = None,
        add: Iterable[str] = (),
        remove: Iterable[str] = (),
    ) -> str:
        """Start a background job adding/removing labels on matching contacts; return its id."""
        if filter is None and search is None:
            raise ValueError("Give a filter or a search: Wix needs to know which contacts.")
        body: dict[str, Any] = {"labelKeysToAdd": list(add), "labelKeysToRemove": list(remove)}
        if not body["labelKeysToAdd"] and not body["labelKeysToRemove"]:
            raise ValueError("Give label keys to add or to remove.")
        if filter is not None:
            body["filter"] = filter
        if search is not None:
            body["search"] = search
        path = f"{BULK}/contacts/add-remove-labels"
        return self._request("POST", path, json=body, answer=_JobStarted).job_id

    def get_bulk_job(self, job_id: str) -> BulkJob:
        return self._request("GET", f"{BULK}/jobs/{_segment(job_id)}", answer=_OneJob).job

    # --- HTTP ---------------------------------------------------------------------------------

    def _request[T: Record](
        self,
        method: str,
        path: str,
        *,
        json: dict | None = None,
        params: dict | None = None,
        gone_is_done: bool = False,
        answer: type[T] | None = None,
        decode: Callable[[bytes], T] | None = None,
        authorized: bool = True,
    ) -> T | None:
        """Send one request (with pacing and retries) and decode Wix's answer into `answer`.

        Every call labelsite makes is safe to repeat, so every failure that may be passing is
        retried: find-or-create finds, label changes and deletes converge, reads read. A Wix
        app's access token that Wix no longer takes (401) is renewed once.
        """
        url = self.base_url + path
        attempt = 0
        renewed = False
        reached = False  # whether any attempt may have got as far as Wix
        while True:
            attempt += 1
            headers = {"Authorization": self._authorization()} if authorized else {}
            self.pacer.wait()
            with self._counter_lock:
                self.request_count += 1
            started = self._clock()
            try:
                response = self.session.request(
                    method, url, json=json, params=params, headers=headers, timeout=self.timeout
                )
            except _NETWORK_ERRORS as exc:
                reason = _network_reason(exc)
                reached = reached or not _never_connected(exc)
                self._log(method, path, reason, started, attempt)
                if self._may_retry(attempt):
                    self._pause(attempt, method, path, reason)
                    continue
                raise WixUnavailable(reason, method=method, path=path, reached=reached) from exc
            status = response.status_code
            self._log(method, path, status, started, attempt)
            if status < 400:
                if answer is None:
                    return None
                try:
                    if decode is not None:
                        return decode(response.content)
                    return msgspec.json.decode(response.content, type=answer)
                except msgspec.ValidationError as exc:
                    # JSON, but not of the shape Wix documents: asking again will not help.
                    raise WixUnavailable(
                        f"Wix's answer did not have the expected shape ({exc})",
                        status=status,
                        method=method,
                        path=path,
                    ) from exc
                except msgspec.DecodeError as exc:
                    if self._may_retry(attempt):
                        self._pause(attempt, method, path, "an unreadable answer")
                        continue
                    raise WixUnavailable(
                        "Wix sent an unreadable answer", status=status, method=method, path=path
                    ) from exc
            if status == 404 and gone_is_done and attempt > 1:
                # An earlier attempt deleted it and only its answer was lost.
                return None
            if status == 401 and authorized and self.config.app_mode and not renewed:
                renewed = True  # the token expired early or was revoked: a fresh one, once
                self._forget_token()
                continue
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            if (status == 429 or status >= 500) and self._may_retry(attempt):
                self._pause(attempt, method, path, f"HTTP {status}", retry_after)
                continue
            raise self._error(response, method, path, retry_after)

    # --- Access tokens (Wix app mode) --------------------------------------------------------

    def _authorization(self) -> str:
        with self._token_lock:
            if self._token and self._clock() < self._token_expires - TOKEN_RENEW_BEFORE_SECONDS:
                return self._token
            token = self._request(
                "POST",
                OAUTH,
                json={
                    "grant_type": "client_credentials",
                    "client_id": self.config.app_id,
                    "client_secret": self.config.app_secret,
                    "instance_id": self.config.app_instance_id,
                },
                answer=_AccessToken,
                authorized=False,
            )
            self._token = token.access_token
            self._token_expires = self._clock() + token.expires_in
            return self._token

    def _forget_token(self) -> None:
        with self._token_lock:
            self._token_expires = 0.0

    def _may_retry(self, attempt: int) -> bool:
        return attempt <= self.max_retries

    def _pause(
        self,
        attempt: int,
        method: str,
        path: str,
        reason: str,
        retry_after: float | None = None,
    ) -> None:
        delay = backoff_delay(
            attempt,
            base=self.backoff_base,
            cap=self.backoff_cap,
            retry_after=retry_after,
            rng=self._rng,
        )
        with self._counter_lock:
            self.retry_count += 1
        logger.warning(
            "Wix %s %s got %s; retry %d of %d in %.2f s",
            method,
            path,
            reason,
            attempt,
            self.max_retries,
            delay,
        )
        self._sleep(delay)

    def _log(self, method: str, path: str, outcome: object, started: float, attempt: int) -> None:
        elapsed_ms = (self._clock() - started) * 1000
        logger.debug(
            "Wix %s %s -> %s in %.0f ms (attempt %d)", method, path, outcome, elapsed_ms, attempt
        )

    def _error(
        self, response: requests.Response, method: str, path: str, retry_after: float | None
    ) -> WixError:
        status = response.status_code
        try:
            body = msgspec.json.decode(response.content) if response.content else {}
        except msgspec.DecodeError:
            body = {}
        if not isinstance(body, dict):
            body = {}
        details = body.get("details") or {}
        application = details.get("applicationError") or {}
        violations = (details.get("validationError") or {}).get("fieldViolations") or []
        message = self._redact(str(body.get("message") or response.reason or ""))
        kwargs: dict[str, Any] = {
            "status": status,
            "code": application.get("code") or ("INVALID_ARGUMENT" if violations else None),
            "description": application.get("description"),
            "data": application.get("data") or {},
            "method": method,
            "path": path,
        }
        cls = _ERRORS_BY_STATUS.get(status, WixUnavailable if status >= 500 else WixError)
        if cls is WixValidationError:  # what Wix echoes back may hold a credential
            kwargs["field_violations"] = [
                {k: self._redact(str(v)) for k, v in violation.items()}
                for violation in violations
                if isinstance(violation, dict)
            ]
        if cls is WixRateLimited:
            kwargs["retry_after"] = retry_after
        return cls(message, **kwargs)

    def _redact(self, text: str) -> str:
        for secret in (self.config.api_key, self.config.app_secret, self._token):
            if secret:
                text = text.replace(secret, "***")
        return text


def _segment(value: str) -> str:
    """One URL path segment: ids and keys never escape into the path structure."""
    return quote(str(value), safe="")


def _query(
    *, filter: dict | None, sort: list[dict] | None, limit: int | None, offset: int | None
) -> dict:
    query: dict[str, Any] = {}
    if filter:
        query["filter"] = filter
    if sort:
        query["sort"] = sort
    paging = {"limit": limit, "offset": offset}
    paging = {k: v for k, v in paging.items() if v is not None}
    if paging:
        query["paging"] = paging
    return query


def _all_of(conditions: list[dict]) -> dict | None:
    if not conditions:
        return None
    if len(conditions) == 1:
        return conditions[0]
    return {"$and": conditions}


def _walk_ended(items: Sized, paging: PagingMetadata | None, seen: int) -> bool:
    """The end of a walk by offset: an empty page, or paging metadata saying nothing remains
    (`seen` = the offset after this page). Never a short page: Wix does not promise full ones."""
    if not items:
        return True
    return paging is not None and paging.total is not None and seen >= paging.total


def _check_page_size(page_size: int) -> None:
    if not 1 <= page_size <= MAX_QUERY_PAGE:
        raise ValueError(f"page_size must be between 1 and {MAX_QUERY_PAGE}.")


def _never_connected(exc: Exception) -> bool:
    """The request never left this machine: the connection was refused, timed out while
    connecting, or the name did not resolve. (A read timeout or a broken answer may come after
    Wix got the request.)"""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    if isinstance(exc, requests.Timeout) or not isinstance(exc, requests.ConnectionError):
        return False
    inner = exc.args[0] if exc.args else None
    return isinstance(getattr(inner, "reason", inner), urllib3.exceptions.NewConnectionError)


def _network_reason(exc: Exception) -> str:
    if isinstance(exc, requests.ConnectTimeout):
        return "connect timeout"
    if isinstance(exc, requests.Timeout):
        return "read timeout"
    if isinstance(exc, requests.exceptions.ChunkedEncodingError):
        return "connection broken mid-answer"
    return "connection error"
