"""URL map: webhooks, unsubscribe, health, admin. (Staff pages come with their issue.)"""

from django.contrib import admin
from django.urls import path

from drip.webhooks import views as webhooks
from drip.webhooks.inbound import twilio_inbound

urlpatterns = [
    path("webhooks/twilio/status", webhooks.twilio_status, name="twilio-status"),
    path("webhooks/twilio/inbound", twilio_inbound, name="twilio-inbound"),
    path("u/<str:token>", webhooks.unsubscribe, name="unsubscribe"),
    path("healthz", webhooks.healthz, name="healthz"),
    path("admin/", admin.site.urls),
]
