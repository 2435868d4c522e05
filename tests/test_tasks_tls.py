"""SMTP with STARTTLS and a login, against aiosmtpd requiring both (a certificate made
for the test, trusted through ``SSL_CERT_FILE``)."""

import datetime
import ssl

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from tests.accounts import PASSWORD, AuthActions, add_user
from tests.servers import free_port
from tests.standins import code_in


def self_signed(tmp_path):
    """A certificate for 127.0.0.1 and its key, as PEM files."""
    import ipaddress

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=1))
            .not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


@pytest.fixture
def tls_mail(tmp_path, monkeypatch):
    """An SMTP server that requires STARTTLS and the login luffy/secret."""
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult

    cert, key = self_signed(tmp_path)
    monkeypatch.setenv("SSL_CERT_FILE", str(cert))  # the client trusts it
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    received = []

    class Handler:
        async def handle_DATA(self, _server, session, envelope):
            received.append((session.authenticated, envelope.content.decode()))
            return "250 OK"

    def authenticator(_server, _session, _envelope, _mechanism, data):
        return AuthResult(success=data.login == b"luffy" and data.password == b"secret")

    port = free_port()
    controller = Controller(Handler(), hostname="127.0.0.1", port=port, tls_context=context,
                            require_starttls=True, authenticator=authenticator, auth_required=True)
    controller.start()
    yield port, received
    controller.stop()


def test_email_over_starttls_with_a_login(make_app, tls_mail):
    port, received = tls_mail
    app = make_app(MAIL_SERVER="127.0.0.1", MAIL_PORT=port, MAIL_USE_TLS=True,
                   MAIL_USERNAME="luffy", MAIL_PASSWORD="secret")
    add_user(app)
    client = app.test_client()
    headers = AuthActions(client).headers()
    response = client.post("/users/email/code", headers=headers,
                           json={"email": "tls@example.com", "purpose": "confirm", "password": PASSWORD})
    assert response.status_code == 202
    ((authenticated, content),) = received
    assert authenticated is True
    response = client.post("/users/email/confirm", headers=headers,
                           json={"email": "tls@example.com", "code": code_in(content)})
    assert response.status_code == 200


def test_a_refused_smtp_login_delivers_nothing_and_counts_as_a_failed_try(make_app, tls_mail, caplog):
    port, received = tls_mail
    app = make_app(MAIL_SERVER="127.0.0.1", MAIL_PORT=port, MAIL_USE_TLS=True,
                   MAIL_USERNAME="luffy", MAIL_PASSWORD="wrong", MESSAGE_MAX_RETRIES=0,
                   MAIL_TIMEOUT=2)
    add_user(app)
    client = app.test_client()
    response = client.post("/users/email/code", headers=AuthActions(client).headers(),
                           json={"email": "tls@example.com", "purpose": "confirm", "password": PASSWORD})
    assert response.status_code == 202 and received == []
    assert "luffy.send_email to tl****@example.com failed (try 1)" in caplog.text
