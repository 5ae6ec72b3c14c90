"""labelsite's Wix REST client: the only code that talks to Wix."""

from labelsite.wix.client import WixClient
from labelsite.wix.config import WixConfig
from labelsite.wix.errors import (
    WixAuthError,
    WixConfigurationError,
    WixConflict,
    WixError,
    WixNotFound,
    WixPermissionDenied,
    WixQuotaExceeded,
    WixRateLimited,
    WixUnavailable,
    WixValidationError,
)

__all__ = [
    "WixAuthError",
    "WixClient",
    "WixConfig",
    "WixConfigurationError",
    "WixConflict",
    "WixError",
    "WixNotFound",
    "WixPermissionDenied",
    "WixQuotaExceeded",
    "WixRateLimited",
    "WixUnavailable",
    "WixValidationError",
]
