from django.urls import path

from contacts import views

app_name = "contacts"
urlpatterns = [
    path("wix/webhooks/", views.wix_webhook, name="wix_webhook"),
]
