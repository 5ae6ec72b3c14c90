"""labelsite's admin site: the stock one, with a start page that leads with the work."""

from django.contrib import admin

from labelsite.dashboard import dashboard_for, housekeeping_apps


class LabelsiteAdminSite(admin.AdminSite):
    site_header = "labelsite"
    site_title = "labelsite"
    index_title = "Contact labels and audiences"

    def index(self, request, extra_context=None):
        context = {
            "dashboard": dashboard_for(request.user),
            "housekeeping": housekeeping_apps(self.get_app_list(request)),
            **(extra_context or {}),
        }
        return super().index(request, context)
