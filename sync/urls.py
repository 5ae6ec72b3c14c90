from django.urls import path

from sync import views

app_name = "sync"
urlpatterns = [
    path("wix/webhooks/", views.wix_webhook, name="wix_webhook"),
]
