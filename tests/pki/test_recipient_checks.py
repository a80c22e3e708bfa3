"""Encrypting to a revoked, expired, signing-only or code-signing certificate is refused with a reason (issue 4)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import ExtendedKeyUsageOID

import mailseal
from mailseal.errors import ErrorCode, RecipientError
from mailseal.pki import TrustStore, ValidationContext
from tests.conftest import RunCli
from tests.support.testpki import TestPKI, User

MESSAGE = b"From: alice@example.org\r\nTo: bob@example.org\r\nSubject: s\r\n\r\nsecret\r\n"


def crl_revoking(pki: TestPKI, user: User) -> bytes:
    now = datetime.now(UTC)
    builder = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(pki.intermediate_cert.subject)
        .last_update(now - timedelta(minutes=5))
        .next_update(now + timedelta(days=1))
        .add_revoked_certificate(
            x509.RevokedCertificateBuilder().serial_number(user.cert.serial_number)
            .revocation_date(now - timedelta(minutes=1)).build()
        )
    )
    return builder.sign(pki.intermediate_key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)  # type: ignore[arg-type]


def refused(certificate: x509.Certificate, context: ValidationContext | None = None) -> str:
    with pytest.raises(RecipientError) as err:
        mailseal.encrypt(MESSAGE, [certificate], context=context)
    assert err.value.code == ErrorCode.RECIPIENT_UNSUITABLE
    return err.value.message


def test_expired_recipient_is_refused(pki: TestPKI) -> None:
    now = datetime.now(UTC)
    old = pki.user("expired-rcpt", not_before=now - timedelta(days=30), not_after=now - timedelta(days=1))
    assert "expired" in refused(old.cert)


def test_signing_only_recipient_is_refused(pki: TestPKI) -> None:
    assert "keyEncipherment" in refused(pki.user("sign-only-rcpt", key_usage={"digitalSignature"}).cert)


def test_code_signing_recipient_is_refused(pki: TestPKI) -> None:
    user = pki.user("codesign-rcpt", eku=[ExtendedKeyUsageOID.CODE_SIGNING])
    assert "emailProtection" in refused(user.cert)


def test_revoked_recipient_is_refused_with_a_crl(pki: TestPKI) -> None:
    user = pki.user("revoked-rcpt")
    trust = TrustStore.from_files([pki.root_path])
    context = ValidationContext(trust=trust, intermediates=(pki.intermediate_cert,), crls=(crl_revoking(pki, user),))
    assert "revoked" in refused(user.cert, context)
    good = pki.user("good-rcpt")
    assert mailseal.encrypt(MESSAGE, [good.cert], context=context).startswith(b"From: alice@example.org")


def test_untrusted_recipient_is_refused_when_anchors_are_given(pki: TestPKI) -> None:
    other_root = TrustStore.from_files([pki.user("unrelated-anchor", issuer="root").cert_path])
    user = pki.user("rcpt-untrusted")
    assert "untrusted" in refused(user.cert, ValidationContext(trust=other_root))


def test_cli_refuses_revoked_recipient(pki: TestPKI, run_cli: RunCli, tmp_path: pytest.TempPathFactory) -> None:
    user = pki.user("revoked-cli-rcpt")
    crl = tmp_path / "crl.der"  # type: ignore[operator]
    crl.write_bytes(crl_revoking(pki, user))
    proc = run_cli("encrypt", "--to", user.cert_path, "--trust", pki.root_path, "--crl", crl, input=MESSAGE)
    assert proc.returncode == 2 and proc.stdout == b""
    assert proc.stderr.startswith(b"mailseal: error[recipient-unsuitable]:") and b"revoked" in proc.stderr
