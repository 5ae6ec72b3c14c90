"""Error pages. For htmx requests they are one plain sentence, shown in the page's message area
(`#htmx-messages` in the admin base template) rather than in the region that asked, which may
be a table row or a button."""

import re

from django.http import HttpRequest, HttpResponse
from django.utils.html import format_html
from django.views import csrf, defaults
from django.views.debug import SafeExceptionReporterFilter
from django_htmx.http import reswap, retarget

MESSAGES = {
    403: "You do not have permission to do that. Nothing was changed.",
    404: "That is no longer there: it may have been deleted meanwhile. Reload the page.",
    500: "Something went wrong on our side. Nothing was changed; try again in a minute.",
}


def _plain(request: HttpRequest, status: int) -> HttpResponse | None:
    if not getattr(request, "htmx", False):
        return None
    return message_response(request, status, MESSAGES[status])


def message_response(request: HttpRequest, status: int, message: str) -> HttpResponse:
    """One plain sentence: in the page's message area for htmx, else as a plain page."""
    if not getattr(request, "htmx", False):
        return HttpResponse(message, status=status, content_type="text/plain; charset=utf-8")
    response = HttpResponse(format_html('<p class="errornote">{}</p>', message), status=status)
    return reswap(retarget(response, "#htmx-messages"), "innerHTML")


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    return _plain(request, 403) or defaults.permission_denied(request, exception)


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    return _plain(request, 404) or defaults.page_not_found(request, exception)


def server_error(request: HttpRequest) -> HttpResponse:
    return _plain(request, 500) or defaults.server_error(request)


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    if getattr(request, "htmx", False):
        response = HttpResponse(
            format_html(
                '<p class="errornote">{}</p>',
                "This page is out of date or your session ended. Reload the page and try again; "
                "nothing was changed.",
            ),
            status=403,
        )
        return reswap(retarget(response, "#htmx-messages"), "innerHTML")
    return csrf.csrf_failure(request, reason)


class ReporterFilter(SafeExceptionReporterFilter):
    """The debug page and error mails hide what Django hides, plus database and other URLs that
    carry a password (`DATABASE_URL` in the environment shown as request.META)."""

    hidden_settings = re.compile(
        "API|AUTH|TOKEN|KEY|SECRET|PASS|SIGNATURE|HTTP_COOKIE|DATABASE_URL|DSN",
        flags=re.IGNORECASE,
    )
