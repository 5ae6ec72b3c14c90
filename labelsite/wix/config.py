"""The Wix client's settings, read once from django.conf.settings and checked at once."""

from dataclasses import dataclass, fields
from typing import Self

from django.conf import settings

from labelsite.wix.errors import WixConfigurationError

SECRETS = frozenset({"api_key", "app_secret"})


@dataclass(frozen=True, kw_only=True, repr=False)
class WixConfig:
    """Either an API key and the site id, or a Wix app: its id and secret and this site's app
    instance id (access tokens by OAuth client credentials)."""

    base_url: str
    api_key: str = ""
    site_id: str = ""
    app_id: str = ""
    app_secret: str = ""
    app_instance_id: str = ""
    max_requests_per_minute: int = 200
    connect_timeout: float = 5.0
    read_timeout: float = 30.0
    max_retries: int = 5
    backoff_base: float = 0.5
    backoff_cap: float = 30.0

    @property
    def app_mode(self) -> bool:
        return bool(self.app_id or self.app_secret)

    def __post_init__(self) -> None:
        if not self.base_url:
            raise WixConfigurationError("WIX_API_BASE_URL is empty; set it to the Wix API's URL.")
        if self.app_mode:
            self._check_app()
        else:
            self._check_api_key()
        self._check_numbers()

    def _check_app(self) -> None:
        missing = [
            name
            for name, value in (
                ("WIX_APP_ID", self.app_id),
                ("WIX_APP_SECRET", self.app_secret),
                ("WIX_APP_INSTANCE_ID", self.app_instance_id),
            )
            if not value
        ]
        if missing:
            raise WixConfigurationError(
                f"{' and '.join(missing)} not set: a Wix app needs its id, its secret and this "
                "site's app instance id (see docs/operations.md)."
            )
        if self.api_key:
            raise WixConfigurationError(
                "Both WIX_API_KEY and WIX_APP_ID are set; use an API key or a Wix app, not both."
            )
        for name, value in (
            ("WIX_APP_ID", self.app_id),
            ("WIX_APP_SECRET", self.app_secret),
            ("WIX_APP_INSTANCE_ID", self.app_instance_id),
        ):
            if any(c.isspace() or not c.isprintable() for c in value):
                raise WixConfigurationError(
                    f"{name} contains spaces, line breaks or other invisible characters; "
                    "set it to the value alone."
                )

    def _check_api_key(self) -> None:
        if not self.api_key:
            raise WixConfigurationError(
                "WIX_API_KEY is not set; create an API key in Wix (or set up a Wix app: "
                "WIX_APP_ID, WIX_APP_SECRET, WIX_APP_INSTANCE_ID)."
            )
        if any(c.isspace() or not c.isprintable() for c in self.api_key):
            # Never say the key itself: this message reaches logs and terminals.
            raise WixConfigurationError(
                "WIX_API_KEY contains spaces, line breaks or other invisible characters "
                "(often a trailing newline from a file or a paste); set it to the key alone."
            )
        if any(c.isspace() for c in self.site_id):
            raise WixConfigurationError("WIX_SITE_ID contains spaces or line breaks; remove them.")
        if not self.site_id:
            raise WixConfigurationError("WIX_SITE_ID is not set; it names the Wix site to manage.")

    def _check_numbers(self) -> None:
        if self.max_requests_per_minute < 0:
            raise WixConfigurationError("WIX_MAX_REQUESTS_PER_MINUTE must be 0 (no limit) or more.")
        if self.connect_timeout <= 0 or self.read_timeout <= 0:
            raise WixConfigurationError(
                "WIX_CONNECT_TIMEOUT and WIX_READ_TIMEOUT must be positive."
            )
        if self.max_retries < 0:
            raise WixConfigurationError("WIX_MAX_RETRIES must be 0 or more.")
        if not 0 < self.backoff_base <= self.backoff_cap:
            raise WixConfigurationError(
                "WIX_BACKOFF_BASE must be positive and at most WIX_BACKOFF_CAP."
            )

    @classmethod
    def from_settings(cls) -> Self:
        # Every call labelsite makes is site-level, so the site id is required.
        return cls(
            base_url=settings.WIX_API_BASE_URL,
            api_key=getattr(settings, "WIX_API_KEY", ""),
            site_id=getattr(settings, "WIX_SITE_ID", ""),
            app_id=getattr(settings, "WIX_APP_ID", ""),
            app_secret=getattr(settings, "WIX_APP_SECRET", ""),
            app_instance_id=getattr(settings, "WIX_APP_INSTANCE_ID", ""),
            max_requests_per_minute=settings.WIX_MAX_REQUESTS_PER_MINUTE,
            connect_timeout=settings.WIX_CONNECT_TIMEOUT,
            read_timeout=settings.WIX_READ_TIMEOUT,
            max_retries=settings.WIX_MAX_RETRIES,
            backoff_base=settings.WIX_BACKOFF_BASE,
            backoff_cap=settings.WIX_BACKOFF_CAP,
        )

    def __repr__(self) -> str:
        shown = ", ".join(
            f"{f.name}={'***' if f.name in SECRETS else repr(getattr(self, f.name))}"
            for f in fields(self)
        )
        return f"{type(self).__name__}({shown})"

    __str__ = __repr__
