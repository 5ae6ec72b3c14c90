"""Error pages. For htmx requests they are one plain sentence, shown in the page's message area
(`#htmx-messages` in the admin base template) rather than in the region that asked, which may
be a table row or a button. Other requests get a page in the admin's look (templates/403.html,
403_csrf.html, 404.html, 500.html) saying what happened in plain words, with a way back."""

import logging
import re

from django.conf import settings
from django.contrib import admin
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse
from django.template import loader
from django.utils.html import format_html
from django.views import csrf
from django.views.debug import SafeExceptionReporterFilter
from django_htmx.http import reswap, retarget

MESSAGES = {
    400: "That request could not be read. Nothing was changed; reload the page and try again.",
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


TITLES = {
    400: "That request could not be read",
    403: "You may not open this page",
    404: "This page does not exist",
    500: "Something went wrong on our side",
}
logger = logging.getLogger(__name__)


def _page(
    request: HttpRequest, status: int, template: str = "", title: str = "", words: str = ""
) -> HttpResponse:
    """The admin's frame (header, who is logged in, breadcrumbs) around a few plain words."""
    context = {"title": title or TITLES[status], "is_nav_sidebar_enabled": False, "words": words}
    if getattr(request, "user", None) is not None:
        context = {**admin.site.each_context(request), **context}
    content = loader.render_to_string(template or f"{status}.html", context, request)
    return HttpResponse(content, status=status)


def permission_denied(request: HttpRequest, exception: Exception) -> HttpResponse:
    return _plain(request, 403) or _page(request, 403)


TOO_BIG = (
    "That was more than labelsite takes in one form ({mb} MB). Nothing was changed. To label "
    "contacts from a long list, upload it as a file instead of pasting it."
)


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    """A body too large to read (a very long pasted list), or a malformed request."""
    words = MESSAGES[400]
    if isinstance(exception, RequestDataTooBig):
        words = TOO_BIG.format(mb=settings.DATA_UPLOAD_MAX_MEMORY_SIZE // (1024 * 1024))
    if getattr(request, "htmx", False):
        return message_response(request, 400, words)
    return _page(request, 400, words=words)


def page_not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    return _plain(request, 404) or _page(request, 404)


def server_error(request: HttpRequest) -> HttpResponse:
    if getattr(request, "htmx", False):
        return _plain(request, 500)
    # Nothing that needs the database or the request (either may be what failed): the site's
    # names and the page's words only, and plain text should even that fail.
    context = {
        "title": TITLES[500],
        "site_header": admin.site.site_header,
        "site_title": admin.site.site_title,
        "is_nav_sidebar_enabled": False,
    }
    try:
        content = loader.render_to_string("500.html", context)
    except Exception:
        logger.exception("The error page itself failed")
        return HttpResponse(MESSAGES[500], status=500, content_type="text/plain; charset=utf-8")
    return HttpResponse(content, status=500)


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
    if settings.DEBUG:
        return csrf.csrf_failure(request, reason)  # Django's page says why, for developers
    return _page(request, 403, "403_csrf.html", "This page was out of date")


class ReporterFilter(SafeExceptionReporterFilter):
    """The debug page and error mails hide what Django hides, plus database and other URLs that
    carry a password (`DATABASE_URL` in the environment shown as request.META)."""

    hidden_settings = re.compile(
        "API|AUTH|TOKEN|KEY|SECRET|PASS|SIGNATURE|HTTP_COOKIE|DATABASE_URL|DSN",
        flags=re.IGNORECASE,
    )
