"""The staff pages' URLs (mounted at the site root)."""

from django.urls import path

from drip.staff import alerts, audit, changes, clinic, editor, inbox, signin, test_send, views

app_name = "staff"
urlpatterns = [
    path("", views.today, name="today"),
    path("sign-in", signin.sign_in, name="sign-in"),
    path("sign-out", signin.sign_out, name="sign-out"),
    path("sign-in/password", signin.password, name="password"),
    path("sign-in/code", signin.code, name="code"),
    path("sign-in/code/set-up", signin.code_setup, name="code-setup"),
    path("patients", views.patients, name="patients"),
    path("patients/<int:patient_id>", views.patient, name="patient"),
    path("patients/<int:patient_id>/messages/<int:delivery_id>", views.message, name="message"),
    path(
        "patients/<int:patient_id>/messages/<int:delivery_id>/resolve",
        changes.resolve_message,
        name="resolve",
    ),
    path("patients/<int:patient_id>/edit", changes.edit_contact, name="edit"),
    path("patients/<int:patient_id>/consent", changes.consent, name="consent"),
    path("enroll", views.enroll_page, name="enroll"),
    path("audit", audit.audit, name="audit"),
    path("series/<int:enrollment_id>/infusions/add", changes.add, name="add-infusion"),
    path("series/<int:enrollment_id>/infusions/<int:number>/move", changes.move, name="move"),
    path(
        "series/<int:enrollment_id>/infusions/<int:number>/<str:action>",
        changes.change,
        name="infusion-change",
    ),
    path("series/<int:enrollment_id>/<str:action>", changes.change, name="series-change"),
    path("inbox", inbox.inbox, name="inbox"),
    path("inbox/<int:inbound_id>", inbox.message, name="inbox-message"),
    path("inbox/<int:inbound_id>/reply", inbox.reply, name="inbox-reply"),
    path("inbox/<int:inbound_id>/handle", inbox.handle, name="inbox-handle"),
    path("inbox/<int:inbound_id>/assign", inbox.assign, name="inbox-assign"),
    path("alerts", alerts.alert_list, name="alerts"),
    path("alerts/<int:alert_id>", alerts.alert_page, name="alert"),
    path("alerts/<int:alert_id>/acknowledge", alerts.acknowledge, name="acknowledge"),
    path("staff/alerts/<int:alert_id>", alerts.notice_link, name="alert-notice-link"),
    path("schedules", editor.schedules, name="schedules"),
    path("schedules/<slug:name>", editor.schedule, name="schedule"),
    path("schedules/<slug:name>/draft/start", editor.start_draft, name="start-draft"),
    path("schedules/<slug:name>/draft", editor.draft, name="draft"),
    path("schedules/<slug:name>/draft/steps/new", editor.step, name="new-step"),
    path(
        "schedules/<slug:name>/draft/settings", editor.schedule_settings, name="schedule-settings"
    ),
    path("schedules/<slug:name>/draft/steps/<int:index>", editor.step, name="step"),
    path("schedules/<slug:name>/draft/messages/new", editor.new_message, name="new-message"),
    path("schedules/<slug:name>/draft/messages/<slug:key>", editor.message, name="message-edit"),
    path(
        "schedules/<slug:name>/draft/messages/<slug:key>/preview",
        editor.message_preview,
        name="message-preview",
    ),
    path(
        "schedules/<slug:name>/draft/messages/<slug:key>/patients",
        editor.message_patients,
        name="message-patients",
    ),
    path(
        "schedules/<slug:name>/draft/messages/<slug:key>/test-send",
        test_send.test_send,
        name="test-send",
    ),
    path("settings", clinic.clinic_settings, name="clinic"),
    path("schedules/<slug:name>/draft/publish", editor.publish_page, name="publish"),
    path("schedules/<slug:name>/moves/<int:move_id>", editor.move_progress, name="version-move"),
    path("schedules/<slug:name>/history", editor.history, name="history"),
    path("schedules/<slug:name>/versions/<int:number>", editor.version, name="version"),
    path(
        "schedules/<slug:name>/versions/<int:number>/roll-back", editor.roll_back, name="roll-back"
    ),
]
