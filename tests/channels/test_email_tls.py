"""STARTTLS against a real SMTP server (aiosmtpd on loopback, with and without STARTTLS offered).

Patient emails must not travel in plain text to a server that offers encryption: the default
(``opportunistic``) upgrades whenever STARTTLS is offered, ``require`` refuses a server without
it, ``off`` never upgrades. The certificate is checked: a server whose certificate we do not
trust fails the send instead of being used in plain text.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator

import pytest
import trustme

from drip.channels.email import SmtpEmail
from drip.errors import TransientDeliveryError
from tests.channels.test_email import MAIL
from tests.support.smtp_server import SmtpServer


@pytest.fixture(scope="module")
def authority() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def tls_server(authority: trustme.CA) -> Iterator[SmtpServer]:
    """An SMTP server offering STARTTLS with a certificate for 127.0.0.1 from ``authority``."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("127.0.0.1").configure_cert(context)
    server = SmtpServer(tls_context=context).start()
    yield server
    server.stop()


@pytest.fixture
def plain_server() -> Iterator[SmtpServer]:
    """An SMTP server that does not offer STARTTLS."""
    server = SmtpServer().start()
    yield server
    server.stop()


def email_channel(
    server: SmtpServer, *, tls: str = "opportunistic", trusting: trustme.CA | None = None
) -> SmtpEmail:
    context = ssl.create_default_context()
    if trusting is not None:
        trusting.configure_trust(context)
    return SmtpEmail(
        host="127.0.0.1",
        port=server.port,
        tls=tls,
        tls_context=context,
        timeout_s=5,
        from_email="care@clinic.test",
        message_id_domain="clinic.test",
    )


def send(channel: SmtpEmail) -> None:
    try:
        channel.send(MAIL)
    finally:
        channel.close()


def test_by_default_an_email_goes_over_starttls_when_the_server_offers_it(tls_server, authority):
    send(email_channel(tls_server, trusting=authority))
    (got,) = tls_server.received
    assert got.tls


def test_by_default_an_email_still_goes_to_a_server_without_starttls(plain_server):
    send(email_channel(plain_server))
    (got,) = plain_server.received
    assert not got.tls


def test_require_refuses_a_server_without_starttls_and_sends_nothing(plain_server):
    with pytest.raises(TransientDeliveryError):
        send(email_channel(plain_server, tls="require"))
    assert plain_server.received == []


def test_require_sends_over_starttls(tls_server, authority):
    send(email_channel(tls_server, tls="require", trusting=authority))
    assert [got.tls for got in tls_server.received] == [True]


def test_an_untrusted_certificate_fails_the_send_rather_than_falling_back_to_plain_text(
    tls_server,
):
    with pytest.raises(TransientDeliveryError):
        send(email_channel(tls_server))  # the system's trust store does not know our test CA
    assert tls_server.received == []


def test_off_never_upgrades(tls_server):
    send(email_channel(tls_server, tls="off"))
    assert [got.tls for got in tls_server.received] == [False]
