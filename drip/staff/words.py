"""Times, statuses and reasons in the words staff read (codes kept in small type for support)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

STATUS = {
    "scheduled": "Scheduled",
    "queued": "Queued to send",
    "sending": "Sending",
    "sent": "Sent",
    "delivered": "Delivered",
    "undelivered": "Not delivered",
    "failed": "Failed",
    "skipped": "Skipped",
}
SKIP_REASON = {
    "too_late": "too late: its time had passed",
    "infusion_cancelled": "its infusion was cancelled",
    "condition_unmet": "the infusion it follows did not happen",
    "no_consent": "no consent for this channel",
    "opted_out": "the patient opted out of this channel",
    "enrollment_ended": "the series has ended",
    "paused": "the series is paused",
    "step_removed": "the schedule no longer has this message",
}
# Twilio's and drip's own error codes; anything else shows the provider's text.
PROVIDER_ERROR = {
    "21211": "the phone number is not valid",
    "21408": "texts to this country are not enabled",
    "21610": "the patient replied STOP to our texts",
    "21614": "the number cannot receive texts",
    "30003": "the phone is off or out of reach",
    "30005": "the number is unknown or no longer in service",
    "30006": "the number is a landline or its carrier cannot take texts",
    "30007": "the carrier filtered the message",
    "30008": "the carrier reported an unknown error",
    "timeout": "the provider did not answer in time",
    "connection": "drip could not reach the provider",
    "render": "the message could not be prepared (a template problem)",
    "internal": "drip hit an internal error",
    "rate-limiter": "drip could not check the sending rate",
}
CHANNEL = {"sms": "Text", "email": "Email"}
STOP_HOW = {
    "verbal": "the patient asked staff",
    "written": "the patient asked in writing",
    "web": "the patient asked online",
    "sms_keyword": "the patient replied STOP",
    "email_link": "the patient used the unsubscribe link",
    "provider": "the text provider reported a STOP",
}
CONSENT_HOW = {
    "verbal": "given verbally",
    "written": "on a written form",
    "web": "on the online form",
    "sms_keyword": "by text (STOP/START)",
    "email_link": "by the email's unsubscribe link",
    "provider": "as reported by the text provider",
}
EVENT = {
    "enrolled": "Enrolled the patient",
    "infusion_moved": "Moved an infusion",
    "infusion_added": "Added an infusion",
    "infusion_done": "Marked an infusion done",
    "infusion_cancelled": "Cancelled an infusion",
    "infusion_scheduled": "Set an infusion back to scheduled",
    "paused": "Paused the series",
    "resumed": "Resumed the series",
    "ended": "Ended the series",
    "opted_out": "Recorded an opt-out",
    "opted_in": "Recorded an opt-in",
    "consent_reason": "Reason given",
    "contact_changed": "Changed contact details",
    "message_sent_again": "Sent a failed message again",
    "unsettled_marked_sent": "Recorded an unsettled message as sent",
    "unsettled_sent_again": "Sent an unsettled message again",
    "alert_acknowledged": "Acknowledged a crisis alert",
    "inbox_handled": "Marked a reply handled",
    "inbox_reopened": "Marked a reply unread again",
    "inbox_assigned": "Assigned a reply",
    "sms_reply_written": "Wrote a text reply",
    "sms_reply_sent": "Text reply sent",
    "sms_reply_failed": "Text reply failed",
    "sms_reply_refused": "Text reply not sent: the patient opted out",
}


def local_time(instant: datetime, zone: str) -> str:
    """ "Tue Dec 8, 5:00 PM EST": the instant in ``zone``, with the zone named."""
    t = instant.astimezone(ZoneInfo(zone))
    hour = t.hour % 12 or 12
    return f"{t:%a %b} {t.day}, {hour}:{t:%M} {'AM' if t.hour < 12 else 'PM'} {t:%Z}"


def local_date(instant: datetime, zone: str) -> str:
    """ "Nov 2, 2026": a day in the patient's zone."""
    t = instant.astimezone(ZoneInfo(zone))
    return f"{t:%b} {t.day}, {t.year}"


def delivery_status(status: str, skip_reason: str, error_code: str, error_text: str) -> str:
    """ "Skipped: the series is paused", "Failed: the number cannot receive texts"."""
    words = STATUS.get(status, status)
    if status == "skipped" and skip_reason:
        return f"{words}: {SKIP_REASON.get(skip_reason, skip_reason)}"
    if error_code and status in ("failed", "undelivered", "scheduled", "queued"):
        why = PROVIDER_ERROR.get(error_code) or error_text or "the provider gave no reason"
        prefix = words if status in ("failed", "undelivered") else f"{words}, will retry"
        return f"{prefix}: {why}"
    return words
