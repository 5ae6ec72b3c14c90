"""What every view shares: the htmx request type, one permission check, one way to answer with
several regions of a page at once."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest
from django.template.response import TemplateResponse
from django_htmx.middleware import HtmxDetails

PARTIALS_TEMPLATE = "labelsite/partials.html"


class HtmxHttpRequest(HttpRequest):
    htmx: HtmxDetails


def has_permissions(user, *perms: str | tuple[str, ...]) -> bool:
    """Every one of `perms`; a tuple stands for any one of its permissions."""
    return all(
        any(user.has_perm(p) for p in perm) if isinstance(perm, tuple) else user.has_perm(perm)
        for perm in perms
    )


def permission_required(*perms: str | tuple[str, ...]) -> Callable:
    """Refuse (403) anyone lacking one of `perms` before the view runs. Every view and htmx
    endpoint carries it: a partial never relies on the page around it having checked."""

    def decorator(view: Callable) -> Callable:
        @wraps(view)
        def checked(request: HttpRequest, *args, **kwargs):
            if not has_permissions(request.user, *perms):
                raise PermissionDenied
            return view(request, *args, **kwargs)

        return checked

    return decorator


def render_partials(
    request: HttpRequest,
    template: str,
    partials: list[str],
    context: dict,
    *,
    oob: list[str] = (),
    status: int = 200,
) -> TemplateResponse:
    """Several partials of one page template in one answer: `partials` as they are, then `oob`
    ones with `oob=True` in their context (they mark themselves `hx-swap-oob`)."""
    names = [(f"{template}#{name}", False) for name in partials]
    names += [(f"{template}#{name}", True) for name in oob]
    return TemplateResponse(
        request, PARTIALS_TEMPLATE, {**context, "partials": names}, status=status
    )
