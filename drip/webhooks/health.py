"""``GET /healthz`` for the container healthcheck."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse

from drip.models import Delivery


def healthz(request: HttpRequest) -> HttpResponse:
    """For the container healthcheck: the process answers and the database is reachable."""
    Delivery.objects.exists()
    return HttpResponse("ok", content_type="text/plain")
