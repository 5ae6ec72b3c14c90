"""Typed exceptions for calls to Wix.

Every exception carries what Wix said (`message`, `status`, application error `code`,
`description`, `data`) and reads, as `str()`, as a sentence a person can act on. None of them
ever holds the API key or request headers.
"""

from typing import Any

from django.core.exceptions import ImproperlyConfigured


class WixError(Exception):
    """Base class: something went wrong talking to Wix."""

    def __init__(
        self,
        message: str = "",
        *,
        status: int | None = None,
        code: str | None = None,
        description: str | None = None,
        data: dict[str, Any] | None = None,
        method: str | None = None,
        path: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.description = description
        self.data = data or {}
        self.method = method
        self.path = path

    def summary(self) -> str:
        return "Wix could not do this"

    def advice(self) -> str:
        return ""

    def _http(self) -> str:
        return f" (HTTP {self.status})" if self.status else ""

    def __str__(self) -> str:
        text = self.summary() + self._http()
        detail = self.detail()
        if detail:
            text += f": {detail}"
        text += "."
        advice = self.advice()
        return f"{text} {advice}" if advice else text

    def detail(self) -> str:
        return self.message.rstrip(".")

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(status={self.status!r}, code={self.code!r}, "
            f"message={self.message!r}, method={self.method!r}, path={self.path!r})"
        )


class WixConfigurationError(WixError, ImproperlyConfigured):
    """A WIX_* setting is missing or contradicts another; raised before any request."""

    def __str__(self) -> str:
        return self.message


class WixValidationError(WixError):
    """400: Wix rejected the request's data; `field_violations` says which fields and why."""

    def __init__(
        self,
        message: str = "",
        *,
        field_violations: list[dict[str, Any]] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(message, **kwargs)
        self.field_violations = field_violations or []

    def summary(self) -> str:
        return "Wix refused the request"

    def detail(self) -> str:
        violations = [
            f"{v.get('field', '?')} {v.get('description', '')}".strip()
            for v in self.field_violations
        ]
        return "; ".join(violations) or super().detail()

    def advice(self) -> str:
        return "Nothing was changed; correct it and try again."


class WixAuthError(WixError):
    """401: Wix did not accept the API key."""

    def summary(self) -> str:
        return "Wix did not accept the API key"

    def detail(self) -> str:
        return ""

    def advice(self) -> str:
        return "Check the WIX_API_KEY setting."


class WixPermissionDenied(WixError):
    """403: the key may not act on this site (wrong site id or missing permission)."""

    def summary(self) -> str:
        return "Wix refused access to this site"

    def detail(self) -> str:
        return ""

    def advice(self) -> str:
        return "Check the WIX_SITE_ID setting and the API key's permissions."


class WixNotFound(WixError):
    """404: the label, contact or job does not exist (any more)."""

    def summary(self) -> str:
        return "Wix has no such item"

    def advice(self) -> str:
        return "It may have been deleted in Wix; reload and try again."


class WixConflict(WixError):
    """409: e.g. a label with that name exists, or a contact's revision is stale."""

    def summary(self) -> str:
        return "Wix reported a conflict"

    def advice(self) -> str:
        return "Nothing was changed."


class WixQuotaExceeded(WixError):
    """428: a site limit was reached (e.g. labels quota); `data` holds the numbers."""

    def summary(self) -> str:
        quota = self.data.get("labelsQuota")
        if quota:
            return f"The Wix site already has its maximum of {quota} labels"
        return "The Wix site has reached a limit"

    def advice(self) -> str:
        return "Nothing was changed; delete something you no longer need first."


class WixRateLimited(WixError):
    """429 after every retry: Wix keeps saying we are sending too many requests."""

    def __init__(self, message: str = "", *, retry_after: float | None = None, **kwargs: Any):
        super().__init__(message, **kwargs)
        self.retry_after = retry_after

    def summary(self) -> str:
        return "Wix is receiving too many requests"

    def detail(self) -> str:
        return ""

    def advice(self) -> str:
        wait = f"{self.retry_after:g} seconds" if self.retry_after else "a minute"
        return f"Nothing was changed; try again in {wait}."


class WixUnavailable(WixError):
    """5xx, a connection error or a timeout, after every retry.

    `reached` is False when no attempt got as far as Wix (every one failed to connect): then
    Wix cannot have done anything. Otherwise (a timeout, a broken answer, a 5xx) it may have.
    """

    def __init__(self, message: str = "", *, reached: bool = True, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.reached = reached

    def summary(self) -> str:
        if not self.status:
            return "Wix could not be reached"
        if self.status < 500:
            return "Wix sent an answer that could not be read"
        return "Wix is not answering right now"

    def _http(self) -> str:
        return f" (HTTP {self.status})" if self.status else f" ({self.message})"

    def detail(self) -> str:
        return ""

    def advice(self) -> str:
        if not self.reached:
            return "Nothing was changed; try again when Wix is back."
        if self.status:
            return "Nothing was changed; try again in a minute."
        return "Try again in a minute; repeating it is safe."
