from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class LabelsiteConfig(AppConfig):
    """The project itself: shared view helpers, error pages and the site-wide commands
    (`setup_roles`, `ensure_admin`), above every feature app."""

    default = True
    name = "labelsite"
    verbose_name = "labelsite"

    def ready(self) -> None:
        from labelsite import checks  # noqa: F401  (registers the start-up checks)


class LabelsiteAdminConfig(admin_apps.AdminConfig):
    """Django's admin with labelsite's site (its start page), in place of
    "django.contrib.admin" in INSTALLED_APPS."""

    default = False
    default_site = "labelsite.sites.LabelsiteAdminSite"
