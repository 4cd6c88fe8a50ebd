"""Inbound SMS: what a patient's reply does (service.py) and the on-call alerts it raises
(alerts.py)."""
