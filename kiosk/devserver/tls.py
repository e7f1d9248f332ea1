"""A self-signed certificate made at start, for the dev server's HTTPS/WSS port.

The key never touches a long-lived file: :func:`server_ssl_context` writes the PEMs to a private
temporary directory only for the duration of ``load_cert_chain`` and deletes them right away.
Clients that want to verify the server can trust :attr:`SelfSignedCertificate.cert_pem`.
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import ssl
import tempfile
from dataclasses import dataclass

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

__all__ = ["SelfSignedCertificate", "make_self_signed", "server_ssl_context"]


@dataclass(frozen=True)
class SelfSignedCertificate:
    cert_pem: bytes
    key_pem: bytes


def make_self_signed(hosts: list[str] | None = None) -> SelfSignedCertificate:
    """An EC P-256 leaf certificate (CA:false, serverAuth) valid for a week, self-signed, for
    SAN ``127.0.0.1``, ``localhost`` and ``hosts``."""
    names = ["127.0.0.1", "localhost", *(hosts or [])]
    sans: list[x509.GeneralName] = []
    seen: set[str] = set()
    for name in names:
        if not name or name in seen or name in ("0.0.0.0", "::"):
            continue
        seen.add(name)
        try:
            sans.append(x509.IPAddress(ipaddress.ip_address(name)))
        except ValueError:
            sans.append(x509.DNSName(name))
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kiosk devserver")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=7))
        .add_extension(x509.SubjectAlternativeName(sans), critical=False)
        # A leaf, not a CA: trusting it (a browser exception, a ca_file) vouches for this one
        # server only, never for certificates it could sign.
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(key, hashes.SHA256())
    )
    return SelfSignedCertificate(
        cert_pem=cert.public_bytes(serialization.Encoding.PEM),
        key_pem=key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )


def server_ssl_context(cert: SelfSignedCertificate) -> ssl.SSLContext:
    """A server-side context holding ``cert``; the temporary PEM files are gone on return."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    with tempfile.TemporaryDirectory(prefix="kiosk-devserver-") as tmp:
        cert_path = os.path.join(tmp, "cert.pem")
        key_path = os.path.join(tmp, "key.pem")
        fd = os.open(key_path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(cert.key_pem)
        with open(cert_path, "wb") as f:
            f.write(cert.cert_pem)
        ctx.load_cert_chain(cert_path, key_path)
    return ctx
