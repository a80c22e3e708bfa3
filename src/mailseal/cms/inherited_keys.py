"""DSA keys that inherit their domain parameters from the issuer (RFC 3279 §2.3.2; NIST PKITS 4.1.5).

Low level: prefer the high-level API. A certificate whose DSA subjectPublicKeyInfo has no parameters cannot be
loaded by pyca. ``complete()`` builds a *completed copy* (the issuer's p, q, g written into the key) that pyca can
load, and remembers the certificate exactly as received: path validation is always run on the received bytes
(``received_der``), where pyhanko-certvalidator inherits the parameters along the path itself, and the path it
finds must have the very issuer whose parameters the copy took (``inherited_from``), so a message cannot slip in
other parameters for a certified key.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from collections.abc import Sequence

from asn1crypto import keys as a_keys
from asn1crypto import x509 as a_x509
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

_MAX = 1024  # completed copies remembered (a gateway seldom sees one; a bounded table all the same)
_lock = threading.Lock()
# sha256 of the completed copy's DER -> (the certificate as received, the DER of the parameters it took)
_completed: OrderedDict[bytes, tuple[bytes, bytes]] = OrderedDict()
# the DER of a subjectPublicKeyInfo without parameters -> the DER of the parameters its certificate took
_by_key: OrderedDict[bytes, bytes] = OrderedDict()


def _key_of(cert: x509.Certificate) -> bytes:
    return hashlib.sha256(cert.public_bytes(Encoding.DER)).digest()


def needs_parameters(parsed: a_x509.Certificate) -> bool:
    """A DSA key without domain parameters of its own."""
    spki = parsed["tbs_certificate"]["subject_public_key_info"]
    return bool(spki["algorithm"]["algorithm"].native == "dsa" and spki["algorithm"]["parameters"].native is None)


def dsa_parameters(cert: x509.Certificate) -> bytes | None:
    """The DER of a certificate's DSA domain parameters (its own, or those its completed copy took); None for
    another key type."""
    parsed = a_x509.Certificate.load(cert.public_bytes(Encoding.DER))
    spki = parsed["tbs_certificate"]["subject_public_key_info"]
    if spki["algorithm"]["algorithm"].native != "dsa" or spki["algorithm"]["parameters"].native is None:
        return None
    return bytes(spki["algorithm"]["parameters"].dump())


def complete(raw: bytes, issuers: Sequence[x509.Certificate]) -> x509.Certificate | None:
    """The completed copy of ``raw`` with the parameters of its issuer among ``issuers`` (matched by name; the
    first with DSA parameters), or None when no such issuer is there or the copy still cannot be loaded."""
    parsed = a_x509.Certificate.load(raw)
    if not needs_parameters(parsed):
        return None
    for issuer in issuers:
        try:
            if a_x509.Name.load(issuer.subject.public_bytes()) != parsed.issuer:  # RFC 5280 §7.1 comparison
                continue
        except ValueError:
            continue
        params = dsa_parameters(issuer)
        if params is None:
            continue
        copy = a_x509.Certificate.load(raw)
        copy["tbs_certificate"]["subject_public_key_info"]["algorithm"]["parameters"] = a_keys.DSAParams.load(params)
        try:
            loaded = x509.load_der_x509_certificate(copy.dump(force=True))
        except ValueError:
            return None
        with _lock:
            _completed[_key_of(loaded)] = (raw, params)
            _by_key[bytes(parsed["tbs_certificate"]["subject_public_key_info"].dump())] = params
            while len(_completed) > _MAX:
                _completed.popitem(last=False)
            while len(_by_key) > _MAX:
                _by_key.popitem(last=False)
        return loaded
    return None


def complete_all(unreadable: Sequence[bytes], readable: Sequence[x509.Certificate]) -> list[tuple[bytes, x509.Certificate]]:
    """Completed copies of every certificate in ``unreadable`` whose issuer is readable or itself completed (a
    chain of inheriting CAs, as PKITS 4.1.5 has), as (received DER, copy) pairs."""
    done: list[tuple[bytes, x509.Certificate]] = []
    pending = list(unreadable)
    progress = True
    while pending and progress:
        progress = False
        for raw in list(pending):
            try:
                copy = complete(raw, [*readable, *(c for _, c in done)])
            except ValueError:
                pending.remove(raw)
                continue
            if copy is not None:
                done.append((raw, copy))
                pending.remove(raw)
                progress = True
    return done


def received_der(cert: x509.Certificate) -> bytes:
    """The certificate as received: the original of a completed copy, else its own DER."""
    der = cert.public_bytes(Encoding.DER)
    with _lock:
        hit = _completed.get(hashlib.sha256(der).digest())
    return hit[0] if hit is not None else der


def inherited_from(cert: x509.Certificate) -> bytes | None:
    """The DER of the parameters a completed copy took from its issuer; None for any other certificate."""
    with _lock:
        hit = _completed.get(_key_of(cert))
    return hit[1] if hit is not None else None


def with_parameters(spki: a_keys.PublicKeyInfo) -> a_keys.PublicKeyInfo:
    """A DSA key without parameters with those its certificate took when it was completed (for checking what
    that certificate's key signed: a CRL of an inheriting CA); any other key unchanged."""
    if spki["algorithm"]["algorithm"].native != "dsa" or spki["algorithm"]["parameters"].native is not None:
        return spki
    with _lock:
        params = _by_key.get(bytes(spki.dump()))
    if params is None:
        return spki
    completed = spki.copy()
    completed["algorithm"]["parameters"] = a_keys.DSAParams.load(params)
    return completed


__all__ = ["complete", "complete_all", "dsa_parameters", "inherited_from", "needs_parameters", "received_der",
           "with_parameters"]
