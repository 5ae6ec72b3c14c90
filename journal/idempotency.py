"""Exactly once: a form that changes anything carries a key made when it was rendered
(`{% idempotency_key %}`). The first request with a key is answered as usual and its answer
kept; a second request with the same key changes nothing and gets the first one's answer (or,
while the first is still being answered, waits for it)."""

from __future__ import annotations

import hashlib
import re
import time
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from labelsite.errors import message_response

FIELD = "idempotency_key"
HEADER = "Idempotency-Key"
KEY_PATTERN = re.compile(r"[A-Za-z0-9_-]{8,64}")
WAIT_SECONDS = 15.0
ABANDONED_SECONDS = 120  # a first request this old and unanswered died
KEEP_DAYS = 2
# The answer's headers worth giving again (htmx's instructions, the content type).
REPLAYED_HEADERS = ("content-type", "location")
REPLAYED_PREFIX = "hx-"


def _key(request: HttpRequest) -> str | None:
    if request.method != "POST" or not request.user.is_authenticated:
        return None
    return request.POST.get(FIELD) or request.headers.get(HEADER) or None


def _fingerprint(request: HttpRequest) -> str:
    """A digest of what the form sent, without the CSRF token and the key itself."""
    if request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        fields = sorted(
            (name, value)
            for name, values in request.POST.lists()
            if name not in (FIELD, "csrfmiddlewaretoken")
            for value in values
        )
        sent = repr(fields).encode()
    else:
        sent = request.body
    return hashlib.sha256(sent).hexdigest()


def _replay(row) -> HttpResponse:
    response = HttpResponse(bytes(row.content), status=row.status)
    for name, value in row.headers.items():
        response[name] = value
    response["X-Idempotent-Replay"] = "true"
    return response


class IdempotencyMiddleware:
    """Placed after CSRF and authentication: only a checked, logged-in request is remembered."""

    def __init__(self, get_response) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        row = getattr(request, "_submitted_form", None)
        if row is not None:
            self._remember(row, response)
        return response

    def process_view(self, request: HttpRequest, view, args, kwargs) -> HttpResponse | None:
        from journal.models import SubmittedForm

        if getattr(view, "csrf_exempt", False):
            return None  # not a form (Wix's webhooks): its body is not ours to read
        key = _key(request)
        if key is None:
            return None
        if not KEY_PATTERN.fullmatch(key):
            return message_response(
                request,
                400,
                "This form is damaged (its key is not one labelsite made). Reload the page and "
                "try again; nothing was changed.",
            )
        try:
            with transaction.atomic():
                request._submitted_form = SubmittedForm.objects.create(
                    user=request.user,
                    key=key,
                    path=request.path[:500],
                    fingerprint=_fingerprint(request),
                )
        except IntegrityError:
            return self._answer_again(request, key)
        return None

    def _answer_again(self, request: HttpRequest, key: str) -> HttpResponse:
        from journal.models import SubmittedForm

        deadline = time.monotonic() + WAIT_SECONDS
        while True:
            row = SubmittedForm.objects.filter(user=request.user, key=key).first()
            if row is None:  # the first answer failed and was forgotten: answer this one
                return _conflict(request, "The first try failed; send the form again.")
            # (A row from before fingerprints were kept has none: its path alone is checked.)
            other = row.fingerprint and row.fingerprint != _fingerprint(request)
            if row.path != request.path[:500] or other:
                # Not the same form sent twice: another change that kept an old key (its
                # answer, with a new key, was lost). Doing it might double an unseen change;
                # answering with the first one's answer would drop it silently.
                return _conflict(
                    request,
                    "This form's key was used for something else; reload the page and try "
                    "again. Nothing was changed.",
                )
            if row.status is not None:
                return _replay(row)
            if row.created_at < timezone.now() - timedelta(seconds=ABANDONED_SECONDS):
                # The first request died unanswered (its process was killed): let this one
                # through; the journal keeps a change from happening twice.
                SubmittedForm.objects.filter(pk=row.pk, status__isnull=True).delete()
                return _conflict(request, "The first try was lost; send the form again.")
            if time.monotonic() > deadline:
                return _conflict(
                    request,
                    "This form was sent already and is still being answered; wait a moment, "
                    "then reload the page to see the result.",
                )
            time.sleep(0.1)

    def _remember(self, row, response: HttpResponse) -> None:
        from journal.models import SubmittedForm

        if response.status_code >= 500 or getattr(response, "streaming", False):
            # Nothing was answered for sure: the same form may be sent again.
            SubmittedForm.objects.filter(pk=row.pk).delete()
            return
        headers = {
            name: value
            for name, value in response.items()
            if name.lower() in REPLAYED_HEADERS or name.lower().startswith(REPLAYED_PREFIX)
        }
        SubmittedForm.objects.filter(pk=row.pk).update(
            status=response.status_code, content=response.content, headers=headers
        )
        if row.pk % 100 == 0:  # now and then, forget old keys
            since = timezone.now() - timedelta(days=KEEP_DAYS)
            SubmittedForm.objects.filter(created_at__lt=since).delete()


def _conflict(request: HttpRequest, message: str) -> HttpResponse:
    return message_response(request, 409, message)
