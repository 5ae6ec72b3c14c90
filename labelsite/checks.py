"""Start-up checks (`manage.py check`, and before every `runserver` and `migrate`): settings
that would only fail later, at the first call to Wix, fail here with a plain message."""

from __future__ import annotations

from django.conf import settings
from django.core.checks import Error, Warning, register

from labelsite.wix import WixConfig, WixConfigurationError


@register()
def wix_settings_check(app_configs, **kwargs) -> list:
    configured = ("WIX_API_KEY", "WIX_SITE_ID", "WIX_APP_ID", "WIX_APP_SECRET")
    if not any(getattr(settings, name, "") for name in configured):
        return [
            Warning(
                "Neither WIX_API_KEY and WIX_SITE_ID nor a Wix app (WIX_APP_ID, WIX_APP_SECRET, "
                "WIX_APP_INSTANCE_ID) are set: labelsite cannot reach Wix.",
                hint="Set them in the environment or .env (see README's configuration table).",
                id="labelsite.W001",
            )
        ]
    try:
        WixConfig.from_settings()
    except WixConfigurationError as error:
        return [Error(str(error), id="labelsite.E001")]
    return []
