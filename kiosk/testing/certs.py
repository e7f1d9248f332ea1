"""A self-signed certificate (the dev server's own builder) written to PEM files."""

from __future__ import annotations

from pathlib import Path

from kiosk.devserver.tls import make_self_signed

__all__ = ["write_self_signed"]


def write_self_signed(directory: Path, hosts: list[str] | None = None) -> tuple[Path, Path]:
    """``cert.pem`` and ``key.pem`` in ``directory``, valid for 127.0.0.1, localhost and
    ``hosts``; returns their paths."""
    cert = make_self_signed(hosts)
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.cert_pem)
    key_path.write_bytes(cert.key_pem)
    key_path.chmod(0o600)
    return cert_path, key_path
