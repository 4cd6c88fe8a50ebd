"""URL map: webhooks, unsubscribe, health, admin, and the staff pages (drip/staff) at the root."""

from django.contrib import admin
from django.urls import include, path

from drip.webhooks import views as webhooks

urlpatterns = [
    path("webhooks/twilio/status", webhooks.twilio_status, name="twilio-status"),
    path("u/<str:token>", webhooks.unsubscribe, name="unsubscribe"),
    path("healthz", webhooks.healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("", include("drip.staff.urls")),
]
