"""The fuzz targets: one function of ``bytes`` per parser that reads what strangers send (issue 17, point 2).

Each target feeds its input to one entry point and lets the exceptions through: the runner (``run.py``) treats a
``MailsealError`` as the typed refusal it is and anything else as a crash. A few targets also check a property of
what was accepted (the SMTP DATA reader keeps only CRLF lines), so that a wrong answer is a crash too.

``Fixture`` is what the targets share: a throw-away PKI (``tests/support/testpki.py``), one recipient identity
and a validation context that trusts the test root, made once per process. ``seeds()`` makes messages with
that identity, so that a run reaches the decryption and verification paths behind the recipient match.
"""

from __future__ import annotations

import io
import os
import tempfile
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from pathlib import Path

_MESSAGE_MODULES = (
    "mailseal.api", "mailseal.limits", "mailseal.streamio", "mailseal.cms.der", "mailseal.cms.parsing",
    "mailseal.cms.verification", "mailseal.cms.decryption", "mailseal.cms.content", "mailseal.cms.inspection",
    "mailseal.mime.entity", "mailseal.mime.multipart", "mailseal.mime.signed", "mailseal.mime.opening",
    "mailseal.mime.judgement", "mailseal.mime.protection", "mailseal.mime.sender", "mailseal.mime.report",
    "mailseal.pki.certfields", "mailseal.pki.profile", "mailseal.pki.validation",
)

#: The modules each target runs through, imported by the runner inside atheris' import hook so that they are
#: instrumented (mailseal imports most of its modules only when a verb is called, which would be too late).
MODULES: dict[str, tuple[str, ...]] = {
    "open": _MESSAGE_MODULES,
    "verify": _MESSAGE_MODULES,
    "decrypt": _MESSAGE_MODULES,
    "mime": ("mailseal.streamio", "mailseal.mime.entity", "mailseal.mime.multipart", "mailseal.mime.signed",
             "mailseal.mime.opening", "mailseal.mime.sender"),
    "ber": ("mailseal.cms.der", "mailseal.cms.parsing"),
    "certificate": ("mailseal.cms.identity", "mailseal.pki.truststore", "mailseal.pki.sst", "mailseal.pki.certfields",
                    "mailseal.pki.profile"),
    "revocation": ("mailseal.pki.revocation", "mailseal.pki.certvalidator_fetchers"),
    "smtp_data": ("mailseal.streamio", "mailseal.gateway.smtpserver"),
    "settings": ("mailseal.config", "mailseal.limits", "mailseal.gateway.settings", "mailseal.gateway.parts",
                 "mailseal.policy.engine", "mailseal.store.lookup_settings", "mailseal.web.settings",
                 "mailseal.cms.token"),
}


@dataclass(frozen=True)
class Fixture:
    directory: Path
    identity: object  # mailseal.Identity (typed loosely: this module is imported before mailseal is)
    context: object  # mailseal.pki.validation.ValidationContext
    users: tuple[object, ...]


@cache
def fixture() -> Fixture:
    from mailseal import Identity
    from mailseal.pki.truststore import TrustStore
    from mailseal.pki.validation import ValidationContext
    from tests.support.testpki import TestPKI

    # libFuzzer ends the process with C's exit(), which runs no Python clean-up: the caller names the folder
    # ($MAILSEAL_FUZZ_WORK: CI's temporary folder, make fuzz's .fuzz/work) so that nothing is left in /tmp.
    work = os.environ.get("MAILSEAL_FUZZ_WORK")
    directory = Path(tempfile.mkdtemp(prefix="fixture-", dir=work) if work else tempfile.mkdtemp(prefix="mailseal-fuzz-"))
    pki = TestPKI(directory / "pki")
    bob = pki.user("bob")
    alice = pki.user("alice")
    carol = pki.user("carol", "ec-p256")
    identity = Identity(bob.key, bob.cert, tuple(bob.chain))  # type: ignore[arg-type]
    context = ValidationContext(trust=TrustStore(anchors=(pki.root_cert,)), moment=datetime.now(UTC))
    return Fixture(directory, identity, context, (alice, bob, carol))


# -- the targets ------------------------------------------------------------------------------------------------

def target_open(data: bytes) -> None:
    """``mailseal.open``: every layer, decrypted with the fixture's key and verified against its root."""
    import mailseal

    f = fixture()
    opened = mailseal.open(data, [f.identity], f.context)  # type: ignore[list-item, arg-type]
    opened.message  # noqa: B018 (the merged header block is built here: a parse of its own)
    opened.report.to_dict()


def target_verify(data: bytes) -> None:
    import mailseal

    report = mailseal.verify(data, fixture().context)  # type: ignore[arg-type]
    report.to_dict()


def target_decrypt(data: bytes) -> None:
    import mailseal

    mailseal.decrypt(data, fixture().identity)  # type: ignore[arg-type]


def target_mime(data: bytes) -> None:
    """The MIME entity parser: header fields and parameters, transfer encodings, multipart bodies, the
    multipart/signed split and header protection's reading of the inner fields."""
    from mailseal.mime.entity import Entity
    from mailseal.mime.multipart import split_multipart
    from mailseal.mime.opening import classify
    from mailseal.mime.sender import from_addresses
    from mailseal.mime.signed import parse_multipart_signed

    entity = Entity.parse(data)
    ctype, params = entity.content_type()
    entity.fields("From")
    from_addresses(entity)
    entity.filename()
    entity.line_end()
    b"".join(entity.decoded_chunks())
    entity.decoded_source().head(64)
    if ctype.startswith("multipart/") and params.get("boundary"):
        for part in split_multipart(entity.region, params["boundary"]):
            inner = Entity.content_from_region(part)
            inner.content_type()
            inner.transfer_encoding()
    if classify(entity) == "signed":
        parse_multipart_signed(entity)
    content = Entity.parse_content(data)
    content.content_type()


def target_ber(data: bytes) -> None:
    """The BER reader (``cms/der.py``) over the whole input, element by element down to the leaves, then the
    ContentInfo parser and the content-type sniffing of ``cms/parsing.py``."""
    from mailseal.cms import der
    from mailseal.cms.parsing import cms_bytes, content_type_of, parse_content_info

    def walk(reader: der.BerReader, depth: int) -> None:
        while not reader.at_eof() and not reader.end_of_contents():
            header = reader.header()
            if header.constructed and depth < 64:
                if header.length is None:
                    walk(reader, depth + 1)
                    reader.expect_eoc()
                else:
                    inner = der.BerReader(io.BytesIO(reader.read(header.length)))
                    walk(inner, depth + 1)
            elif header.length is None:
                for _chunk in reader.octets(header):
                    pass
            else:
                reader.read(header.length)

    walk(der.BerReader(io.BytesIO(data)), 0)
    content_type_of(data)
    parse_content_info(cms_bytes(data))


def target_certificate(data: bytes) -> None:
    """Certificates as every loader reads them (PEM, DER, PKCS#7 certs-only, PKCS#12, SST), then every field
    the report and the profile checks read from them."""
    from mailseal.pki.certfields import certificate_fields, unreadable_reason
    from mailseal.pki.profile import certificate_emails, encryption_usage_problems, key_problems, signing_usage_problems
    from mailseal.pki.truststore import read_certificates

    for cert in read_certificates(data):
        certificate_fields(cert).label  # noqa: B018 (never raises, whatever the fields hold)
        if unreadable_reason(cert) is not None:
            continue
        certificate_emails(cert)
        signing_usage_problems(cert)
        encryption_usage_problems(cert)
        key_problems(cert)


def target_revocation(data: bytes) -> None:
    """CRLs and OCSP responses on the paths that read them: a CRL file given to the CLI (``load_crls``: typed
    errors only), a fetched CRL (``parse_crl``: ValueError is its refusal, which the fetcher turns into a fetch
    failure), a fetched OCSP response (the fetcher's ``ocsp_response``) and both through the disk cache. A first
    byte 0 marks an OCSP response."""
    from mailseal.pki.certvalidator_fetchers import ocsp_response
    from mailseal.pki.revocation import RevocationCache, crl_validity, load_crls, parse_crl

    f = fixture()
    cache = RevocationCache(f.directory / "revocation-cache")
    moment = datetime.now(UTC)
    if data[:1] == b"\x00":
        from pyhanko_certvalidator.errors import OCSPValidationError

        try:
            response = ocsp_response(data[1:], _ocsp_request(), "http://ocsp.example/")  # type: ignore[arg-type]
        except OCSPValidationError:
            return
        cache.put_ocsp("http://ocsp.example/", b"id", response.dump())
        cache.get_ocsp("http://ocsp.example/", b"id", moment)
        return
    try:
        parsed = parse_crl(data)
    except ValueError:
        pass
    else:
        crl_validity(parsed)
        cache.put_crl("http://crl.example/", data, parsed)
        cache.load_crl("http://crl.example/", moment)
    for der_crl in load_crls(data):
        crl_validity(der_crl)


@cache
def _ocsp_request() -> object:
    from asn1crypto import x509 as a_x509
    from cryptography.hazmat.primitives.serialization import Encoding
    from pyhanko_certvalidator.authority import CertTrustAnchor
    from pyhanko_certvalidator.fetchers import common_utils

    alice = fixture().users[0]
    cert = a_x509.Certificate.load(alice.cert.public_bytes(Encoding.DER))  # type: ignore[attr-defined]
    issuer = a_x509.Certificate.load(alice.chain[0].public_bytes(Encoding.DER))  # type: ignore[attr-defined]
    return common_utils.format_ocsp_request(cert, CertTrustAnchor(issuer).authority, certid_hash_algo="sha1",
                                            request_nonces=False)


class _Reader:
    def __init__(self) -> None:
        self._buffer = bytearray()


def target_smtp_data(data: bytes) -> None:
    """The SMTP DATA reader: the blocks of ``data`` go through ``GatewaySMTP._block`` as ``_receive`` feeds them
    (the first byte picks the block size). What it accepts must hold only CRLF line ends and no NUL octets, and
    no line may start with an unstuffed dot run that ended the data early."""
    from mailseal.gateway.smtpserver import GatewaySMTP, _DataState

    size = 1 + (data[0] if data else 0) * 37
    stream = data[1:]
    holder = type("Holder", (), {"_reader": _Reader()})()
    state = _DataState(1 << 20, 1000)
    pending = b""
    kept: list[bytes] = []
    finished = False
    for start in range(0, len(stream), size):
        rest, taken = GatewaySMTP._block(holder, state, pending + stream[start:start + size])  # type: ignore[arg-type]
        kept.append(taken)
        if rest is None:
            finished = True
            break
        pending = rest
    if finished and state.refused is None:
        body = b"".join(kept)
        assert b"\x00" not in body, "NUL accepted in DATA"
        assert body.count(b"\n") == body.count(b"\r\n") and body.count(b"\r") == body.count(b"\r\n"), \
            "a bare CR or LF was accepted in DATA"


def target_settings(data: bytes) -> None:
    """The settings loader: the file as ``mailseal.toml`` (TOML, then every table's own strict reader)."""
    from mailseal.config import CONFIG_ENV, load_settings
    from mailseal.gateway.parts import check_settings
    from mailseal.limits import Limits
    from mailseal.web.settings import parse_web

    path = fixture().directory / "mailseal.toml"
    path.write_bytes(data)
    saved = os.environ.get(CONFIG_ENV)
    os.environ[CONFIG_ENV] = str(path)
    try:
        settings = load_settings()
    finally:
        if saved is None:
            os.environ.pop(CONFIG_ENV, None)
        else:
            os.environ[CONFIG_ENV] = saved
    Limits.from_settings(settings)
    if "web" in settings:
        parse_web(settings)
    check_settings(settings)


TARGETS: dict[str, Callable[[bytes], None]] = {
    "open": target_open,
    "verify": target_verify,
    "decrypt": target_decrypt,
    "mime": target_mime,
    "ber": target_ber,
    "certificate": target_certificate,
    "revocation": target_revocation,
    "smtp_data": target_smtp_data,
    "settings": target_settings,
}


# -- seeds made with the fixture's keys ---------------------------------------------------------------------------

def seeds(name: str) -> Iterator[bytes]:
    """Inputs made afresh for this run (the committed corpus cannot hold messages for a key made at run time)."""
    if name in ("open", "verify", "decrypt", "mime"):
        yield from _messages()
    elif name == "certificate":
        for user in fixture().users:
            from cryptography.hazmat.primitives.serialization import Encoding

            yield user.cert.public_bytes(Encoding.DER)  # type: ignore[attr-defined]
            yield user.cert_path.read_bytes() + user.chain_path.read_bytes()  # type: ignore[attr-defined]
    elif name == "revocation":
        yield from _revocation()


def _messages() -> Iterator[bytes]:
    import mailseal
    from mailseal import Identity

    f = fixture()
    alice = f.users[0]
    signer = Identity(alice.key, alice.cert, tuple(alice.chain))  # type: ignore[attr-defined]
    bob_cert = f.users[1].cert  # type: ignore[attr-defined]
    message = (b"From: Alice <alice@example.org>\r\nTo: bob@example.org\r\nSubject: fuzz seed\r\n"
               b"Content-Type: text/plain; charset=utf-8\r\n\r\nHello Bob,\r\n.this line starts with a dot\r\n")
    signed = mailseal.sign(message, signer)
    opaque = mailseal.sign(message, signer, opaque=True, protect_headers=True)
    yield signed
    yield opaque
    yield mailseal.encrypt(message, [bob_cert])
    yield mailseal.encrypt(message, [bob_cert], cipher="aes256-cbc", key_transport="oaep")
    yield mailseal.encrypt(signed, [bob_cert], protect_headers=False)
    yield mailseal.encrypt(mailseal.sign(message, signer, protect_headers=True, to_be_encrypted=True), [bob_cert],
                           protect_headers=True)
    yield mailseal.encrypt(opaque, [bob_cert, f.users[2].cert], recipient_id="ski")  # type: ignore[attr-defined]


def _revocation() -> Iterator[bytes]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.serialization import Encoding
    from cryptography.x509 import ocsp

    from tests.support.testpki import TestPKI

    pki: TestPKI = TestPKI(fixture().directory / "revocation-pki")
    now = datetime.now(UTC)
    revoked = (x509.RevokedCertificateBuilder().serial_number(7).revocation_date(now - timedelta(days=1))
               .add_extension(x509.CRLReason(x509.ReasonFlags.key_compromise), critical=False).build())
    crl = (x509.CertificateRevocationListBuilder().issuer_name(pki.intermediate_cert.subject)
           .last_update(now - timedelta(hours=1)).next_update(now + timedelta(days=7))
           .add_revoked_certificate(revoked).sign(pki.intermediate_key, hashes.SHA256()))
    yield crl.public_bytes(Encoding.DER)
    yield crl.public_bytes(Encoding.PEM)
    user = pki.user("dave")
    response = (ocsp.OCSPResponseBuilder()
                .add_response(user.cert, pki.intermediate_cert, hashes.SHA1(), ocsp.OCSPCertStatus.GOOD,
                              now - timedelta(hours=1), now + timedelta(days=1), None, None)
                .responder_id(ocsp.OCSPResponderEncoding.HASH, pki.intermediate_cert)
                .sign(pki.intermediate_key, hashes.SHA256()))
    yield b"\x00" + response.public_bytes(Encoding.DER)


def toml_seeds() -> Iterator[bytes]:
    """Settings seeds: the examples of docs/ that parse as TOML (kept small)."""
    docs = Path(__file__).resolve().parents[2] / "docs"
    for page in sorted(docs.glob("*.md")):
        text = page.read_text(encoding="utf-8")
        for block in text.split("```toml")[1:]:
            body = block.split("```", 1)[0]
            try:
                tomllib.loads(body)
            except tomllib.TOMLDecodeError:
                continue
            yield body.encode()


__all__ = ["MODULES", "TARGETS", "Fixture", "fixture", "seeds", "toml_seeds"]
