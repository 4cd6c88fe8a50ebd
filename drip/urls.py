"""URL map: webhooks, unsubscribe, health, admin, and the staff pages (drip/staff) at the root."""

from django.contrib import admin
from django.urls import include, path

from drip.webhooks import health, twilio, unsubscribe
from drip.webhooks.inbound import twilio_inbound

urlpatterns = [
    path("webhooks/twilio/status", twilio.twilio_status, name="twilio-status"),
    path("webhooks/twilio/inbound", twilio_inbound, name="twilio-inbound"),
    path("u/<str:token>", unsubscribe.unsubscribe, name="unsubscribe"),
    path("healthz", health.healthz, name="healthz"),
    path("admin/", admin.site.urls),
    path("", include("drip.staff.urls")),
]
