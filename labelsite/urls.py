from django.contrib import admin
from django.urls import include, path
from django.views.generic import RedirectView

urlpatterns = [
    path("", RedirectView.as_view(url="/admin/", permanent=False)),
    path("admin/", admin.site.urls),
    path("", include("sync.urls")),
]

handler400 = "labelsite.errors.bad_request"
handler403 = "labelsite.errors.permission_denied"
handler404 = "labelsite.errors.page_not_found"
handler500 = "labelsite.errors.server_error"
