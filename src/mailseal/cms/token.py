"""PKCS#11 token keys (low level: prefer the key store): pyca private-key interfaces over a token, RFC 7512 URIs.

A :class:`TokenRSAPrivateKey` or :class:`TokenECPrivateKey` is a private key like any other to the rest of the cms
layer: signing, RSA key transport and ECDH key agreement run on the token, and the key never leaves it
(``private_bytes`` raises :class:`~mailseal.errors.TokenError`). One logged-in session per token and process;
every call into a PKCS#11 module takes that module's lock, so the gateway's worker threads may share identities.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any, NoReturn, TypeVar
from urllib.parse import quote, unquote, unquote_to_bytes

from asn1crypto import algos, core, keys
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils
from cryptography.utils import Buffer

from ..errors import ConfigurationError, TokenError, UsageError

PIN_ENV = "MAILSEAL_PKCS11_PIN"
MODULE_ENV = "MAILSEAL_PKCS11_MODULE"

T = TypeVar("T")

# RFC 7512 §2.3: the path attributes mailseal reads; others (manufacturer, model, slot-*) are accepted and ignored.
_PATH_ATTRIBUTES = ("token", "serial", "object", "id", "type")
_CURVES: dict[str, ec.EllipticCurve] = {
    "secp256r1": ec.SECP256R1(),
    "secp384r1": ec.SECP384R1(),
    "secp521r1": ec.SECP521R1(),
}
_HASH_NAMES = ("sha1", "sha224", "sha256", "sha384", "sha512")


# -- settings and URIs ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TokenSettings:
    """The ``[pkcs11]`` settings table: ``module`` (for URIs without a module-path) and ``pin_env`` (the
    environment variable holding the PIN, default ``MAILSEAL_PKCS11_PIN``)."""

    module: str | None = None
    pin_env: str = PIN_ENV

    @classmethod
    def from_mapping(cls, table: Mapping[str, Any] | None) -> TokenSettings:
        table = dict(table or {})
        if "pin" in table:
            raise ConfigurationError(f"[pkcs11]: a PIN is never read from the settings file (set ${PIN_ENV})")
        unknown = set(table) - {"module", "pin_env"}
        if unknown:
            raise ConfigurationError(f"[pkcs11]: unknown setting {sorted(unknown)[0]!r} (module, pin_env)")
        module = table.get("module")
        pin_env = table.get("pin_env", PIN_ENV)
        if module is not None and not isinstance(module, str):
            raise ConfigurationError("[pkcs11] module must be a path")
        if not isinstance(pin_env, str) or not pin_env:
            raise ConfigurationError("[pkcs11] pin_env must name an environment variable")
        return cls(module, pin_env)

    def module_for(self, uri: TokenURI) -> str:
        """``$MAILSEAL_PKCS11_MODULE`` (this machine's override), else the URI's module-path, else the settings'."""
        module = os.environ.get(MODULE_ENV) or uri.module or self.module
        if not module:
            raise UsageError(f"no PKCS#11 module: give module-path in the URI, [pkcs11] module or ${MODULE_ENV}")
        return module

    def pin(self) -> str:
        pin = os.environ.get(self.pin_env)
        if not pin:
            raise TokenError(f"no PIN for the PKCS#11 token: set ${self.pin_env}")
        return pin


@dataclass(frozen=True)
class TokenURI:
    """A PKCS#11 URI (RFC 7512) naming a token and a key on it; a PIN in the URI is refused (never stored)."""

    token: str | None = None
    serial: str | None = None
    object: str | None = None
    id: bytes | None = None
    module: str | None = None

    def __post_init__(self) -> None:
        if self.token is None and self.serial is None:
            raise UsageError("a PKCS#11 URI must name the token (token=LABEL or serial=...)")
        if self.object is None and self.id is None:
            raise UsageError("a PKCS#11 URI must name the key (object=LABEL or id=...)")

    @classmethod
    def parse(cls, text: str) -> TokenURI:
        if not text.startswith("pkcs11:"):
            raise UsageError("a PKCS#11 URI starts with pkcs11:")
        path, _, query = text[len("pkcs11:"):].partition("?")
        values: dict[str, str] = {}
        key_id: bytes | None = None
        for part in filter(None, path.split(";")):
            name, sep, value = part.partition("=")
            if not sep:
                raise UsageError(f"PKCS#11 URI attribute {name!r} has no value")
            if name == "pin-value":
                raise UsageError(f"a PIN is not accepted in a PKCS#11 URI: set ${PIN_ENV}")
            if name == "type" and value not in ("private", "cert", "public"):
                raise UsageError(f"PKCS#11 URI type={value} does not name a key")
            if name == "id":
                key_id = unquote_to_bytes(value)  # RFC 7512 §2.3: raw octets, percent-encoded
            elif name in _PATH_ATTRIBUTES:
                values[name] = unquote(value)
        for part in filter(None, query.split("&")):
            name, _, value = part.partition("=")
            if name == "pin-value":
                raise UsageError(f"a PIN is not accepted in a PKCS#11 URI: set ${PIN_ENV}")
            if name == "module-path":
                values["module"] = unquote(value)
        return cls(token=values.get("token"), serial=values.get("serial"), object=values.get("object"), id=key_id,
                   module=values.get("module"))

    def __str__(self) -> str:
        parts = []
        if self.token is not None:
            parts.append("token=" + quote(self.token, safe=""))
        if self.serial is not None:
            parts.append("serial=" + quote(self.serial, safe=""))
        if self.id is not None:
            parts.append("id=" + "".join(f"%{b:02x}" for b in self.id))
        if self.object is not None:
            parts.append("object=" + quote(self.object, safe=""))
        parts.append("type=private")
        text = "pkcs11:" + ";".join(parts)
        if self.module is not None:
            text += "?module-path=" + quote(self.module, safe="/")
        return text


# -- sessions ---------------------------------------------------------------------------------------------------


def _pkcs11() -> Any:
    try:
        import pkcs11
    except ImportError as exc:  # pragma: no cover - a dependency; absent only in broken installs
        raise TokenError(f"python-pkcs11 is not installed: {exc}") from None
    return pkcs11


@dataclass
class _Module:
    """A loaded PKCS#11 module and the lock every call into it takes. python-pkcs11 initialises a module with
    C_Initialize(NULL), which tells it the application will not call it from several threads at once (PKCS#11
    v2.40 §5.4): so calls are serialised per module, not merely per session."""

    lib: Any
    lock: threading.RLock


_MODULES: dict[str, _Module] = {}
_TOKENS: dict[tuple[str, str | None, str | None], TokenSession] = {}
_REGISTRY_LOCK = threading.Lock()


def _module(module: str) -> _Module:
    loaded = _MODULES.get(module)
    if loaded is None:
        if not os.path.exists(module):
            raise TokenError(f"the PKCS#11 module {module} does not exist")
        try:
            lib = _pkcs11().lib(module)
        except TokenError:
            raise
        except Exception as exc:
            raise TokenError(f"the PKCS#11 module {module} cannot be loaded: {type(exc).__name__}") from None
        loaded = _MODULES[module] = _Module(lib, threading.RLock())
    return loaded


def _library(module: str) -> Any:
    """The python-pkcs11 ``lib`` of a module, loaded once per process (tests use it to make keys)."""
    return _module(module).lib


class _Pooled:
    """The open session and the key objects already found in it."""

    def __init__(self, session: Any) -> None:
        self.session = session
        self.objects: dict[tuple[Any, ...], Any] = {}


class TokenSession:
    """The logged-in session of this process on one token. Operations take the module's lock, so worker threads
    may share one identity; a session the token dropped (removed, closed, logged out) is reopened once."""

    def __init__(self, module: _Module, token: Any, pin: str) -> None:
        self._module = module
        self.label = str(token.label)
        self._token = token
        self._pin = pin
        self._current: _Pooled | None = None
        self.cache: dict[Any, Any] = {}

    @classmethod
    def get(cls, uri: TokenURI, settings: TokenSettings | None = None) -> TokenSession:
        """The session on the token ``uri`` names, logging in with the PIN from the environment the first time."""
        settings = settings or TokenSettings()
        path = settings.module_for(uri)
        key = (path, uri.token, uri.serial)
        with _REGISTRY_LOCK:
            found = _TOKENS.get(key)
            if found is not None:
                return found
            module = _module(path)
            p11 = _pkcs11()
            with module.lock:
                try:
                    kwargs: dict[str, Any] = {}
                    if uri.token is not None:
                        kwargs["token_label"] = uri.token
                    if uri.serial is not None:
                        kwargs["token_serial"] = uri.serial.encode()
                    token = module.lib.get_token(**kwargs)
                except p11.exceptions.NoSuchToken:
                    raise TokenError(f"no PKCS#11 token {uri.token or uri.serial!r} in {path}") from None
                except p11.exceptions.MultipleTokensReturned:
                    raise TokenError(f"several PKCS#11 tokens match {uri.token!r}: name it by serial") from None
                except p11.exceptions.PKCS11Error as exc:
                    raise TokenError(f"the PKCS#11 token cannot be opened: {type(exc).__name__}") from None
                pool = cls(module, token, settings.pin())
                pool._current = pool._login()
            _TOKENS[key] = pool
            return pool

    def _login(self) -> _Pooled:
        p11 = _pkcs11()
        try:
            return _Pooled(self._token.open(user_pin=self._pin))
        except p11.exceptions.UserAlreadyLoggedIn:
            # Another session of this process logged in already (the login is per application, PKCS#11 §6.7.1).
            return _Pooled(self._token.open())
        except (p11.exceptions.PinIncorrect, p11.exceptions.PinInvalid, p11.exceptions.PinLenRange):
            raise TokenError(f"the PIN for the PKCS#11 token {self.label!r} is wrong") from None
        except p11.exceptions.PinLocked:
            raise TokenError(f"the PIN of the PKCS#11 token {self.label!r} is locked") from None
        except p11.exceptions.PKCS11Error as exc:
            raise TokenError(f"cannot log in to the PKCS#11 token {self.label!r}: {type(exc).__name__}") from None

    def run(self, operation: Callable[[_Pooled], T]) -> T:
        """Run ``operation`` on the session under the module's lock (PKCS#11 errors pass through to the caller)."""
        p11 = _pkcs11()
        lost = (p11.exceptions.SessionHandleInvalid, p11.exceptions.SessionClosed, p11.exceptions.UserNotLoggedIn,
                p11.exceptions.DeviceRemoved, p11.exceptions.TokenNotPresent)
        with self._module.lock:
            if self._current is None:
                self._current = self._login()
            try:
                return operation(self._current)
            except lost:
                self._current = None
            self._current = self._login()
            return operation(self._current)


# -- key objects ------------------------------------------------------------------------------------------------


def _find(pooled: _Pooled, uri: TokenURI, object_class: Any) -> Any:
    cache_key = (int(object_class), uri.id, uri.object)
    found = pooled.objects.get(cache_key)
    if found is None:
        found = pooled.session.get_key(object_class=object_class, id=uri.id, label=uri.object)
        pooled.objects[cache_key] = found
    return found


def _fail(key: TokenKey, what: str) -> NoReturn:
    raise TokenError(f"the private key is on the PKCS#11 token {key.token.label!r} and cannot {what}")


def _digest(data: bytes, algorithm: hashes.HashAlgorithm | utils.Prehashed) -> tuple[bytes, hashes.HashAlgorithm]:
    if isinstance(algorithm, utils.Prehashed):
        return data, algorithm._algorithm
    h = hashes.Hash(algorithm)
    h.update(data)
    return h.finalize(), algorithm


def _mechanisms(name: str) -> tuple[Any, Any]:
    """(CKM_SHAx, CKG_MGF1_SHAx) for a hash name."""
    if name not in _HASH_NAMES:
        raise TokenError(f"hash {name} is not supported with PKCS#11 keys")
    p11 = _pkcs11()
    suffix = {"sha1": "SHA_1", "sha224": "SHA224", "sha256": "SHA256", "sha384": "SHA384", "sha512": "SHA512"}[name]
    return getattr(p11.Mechanism, suffix), getattr(p11.MGF, suffix.replace("SHA_1", "SHA1"))


class TokenKey:
    """What every token-backed key has: the token, the URI, and a secret for implicit rejection."""

    token: TokenSession
    uri: TokenURI

    def _init_token(self, token: TokenSession, uri: TokenURI) -> None:
        self.token = token
        self.uri = uri

    def _call(self, operation: Callable[[Any], T]) -> T:
        return self.token.run(lambda pooled: operation(_find(pooled, self.uri, _pkcs11().ObjectClass.PRIVATE_KEY)))

    def rejection_secret(self) -> bytes:
        """A secret only this key can compute, constant for the key (the implicit-rejection key of RFC 3218 §2.3
        is derived from it): for RSA a raw private operation on a fixed value, for EC the ECDH secret with a fixed
        point. A token that refuses both gives a random secret for the life of the process."""
        cache_key = ("rejection", self.uri.id, self.uri.object)
        cached = self.token.cache.get(cache_key)
        if cached is None:
            try:
                material = self._rejection_material()
            except Exception:
                material = os.urandom(32)
            cached = hashlib.sha256(b"mailseal token rejection secret" + material).digest()
            self.token.cache[cache_key] = cached
        return bytes(cached)

    def _rejection_material(self) -> bytes:
        raise NotImplementedError

    def private_bytes(self, encoding: serialization.Encoding, format: serialization.PrivateFormat,
                      encryption_algorithm: serialization.KeySerializationEncryption) -> bytes:
        _fail(self, "be exported")


class TokenRSAPrivateKey(TokenKey, rsa.RSAPrivateKey):
    """An RSA private key on a token: PKCS#1 v1.5 and PSS signatures, PKCS#1 v1.5 and OAEP decryption."""

    def __init__(self, token: TokenSession, uri: TokenURI, public: rsa.RSAPublicKey) -> None:
        self._init_token(token, uri)
        self._public = public

    def public_key(self) -> rsa.RSAPublicKey:
        return self._public

    @property
    def key_size(self) -> int:
        return self._public.key_size

    def private_numbers(self) -> rsa.RSAPrivateNumbers:
        _fail(self, "give its numbers")

    def __copy__(self) -> TokenRSAPrivateKey:
        return self  # nothing to copy: the key object is a name for the key on the token

    def __deepcopy__(self, memo: dict[Any, Any]) -> TokenRSAPrivateKey:
        return self

    def sign(self, data: bytes, padding: padding.AsymmetricPadding,
             algorithm: hashes.HashAlgorithm | utils.Prehashed | utils.NoDigestInfo) -> bytes:
        from cryptography.hazmat.primitives.asymmetric import padding as pad

        p11 = _pkcs11()
        if isinstance(algorithm, utils.NoDigestInfo):
            if not isinstance(padding, pad.PKCS1v15):
                raise TokenError("NoDigestInfo applies to PKCS#1 v1.5 signatures only")
            return self._sign(bytes(data), p11.Mechanism.RSA_PKCS, None)
        digest, h = _digest(data, algorithm)
        if isinstance(padding, pad.PKCS1v15):
            info = algos.DigestInfo({"digest_algorithm": {"algorithm": h.name, "parameters": core.Null()},
                                     "digest": digest}).dump()
            return self._sign(info, p11.Mechanism.RSA_PKCS, None)
        if isinstance(padding, pad.PSS):
            mgf = padding.mgf
            if not isinstance(mgf, pad.MGF1):
                raise TokenError("PSS on a token needs MGF1")
            salt = padding._salt_length
            if salt is pad.PSS.DIGEST_LENGTH:
                salt = h.digest_size
            elif salt is pad.PSS.MAX_LENGTH:
                salt = (self.key_size + 6) // 8 - h.digest_size - 2
            if not isinstance(salt, int):
                raise TokenError("PSS salt length AUTO is for verification only")
            hash_mech = _mechanisms(h.name)[0]
            mgf_alg = mgf._algorithm
            return self._sign(digest, p11.Mechanism.RSA_PKCS_PSS, (hash_mech, _mechanisms(mgf_alg.name)[1], salt))
        raise TokenError(f"padding {padding.name} is not supported with PKCS#11 keys")

    def _sign(self, data: bytes, mechanism: Any, param: Any) -> bytes:
        p11 = _pkcs11()
        try:
            return bytes(self._call(lambda key: key.sign(data, mechanism=mechanism, mechanism_param=param)))
        except p11.exceptions.PKCS11Error as exc:
            raise TokenError(f"the token {self.token.label!r} refused to sign: {type(exc).__name__}") from None

    def decrypt(self, ciphertext: bytes, padding: padding.AsymmetricPadding) -> bytes:
        """Decrypt on the token. Every failure raises the same ``ValueError`` (as pyca does) so callers keep one
        opaque path; the implicit-rejection secret is computed first so that a failure costs no extra token call."""
        from cryptography.hazmat.primitives.asymmetric import padding as pad

        self.rejection_secret()
        p11 = _pkcs11()
        try:
            if isinstance(padding, pad.PKCS1v15):
                return bytes(self._call(lambda key: key.decrypt(ciphertext, mechanism=p11.Mechanism.RSA_PKCS)))
            if isinstance(padding, pad.OAEP):
                return self._decrypt_oaep(ciphertext, padding)
        except Exception:
            raise ValueError("Decryption failed") from None
        raise ValueError("Decryption failed")

    def _decrypt_oaep(self, ciphertext: bytes, oaep: padding.OAEP) -> bytes:
        from cryptography.hazmat.primitives.asymmetric import padding as pad

        p11 = _pkcs11()
        h, mgf, label = oaep.algorithm, oaep.mgf, oaep._label
        if not isinstance(mgf, pad.MGF1):
            raise ValueError("OAEP on a token needs MGF1")
        hash_mech, _ = _mechanisms(h.name)
        mgf_id = _mechanisms(mgf._algorithm.name)[1]
        native = ("oaep", h.name, mgf._algorithm.name, bool(label))
        if self.token.cache.get(native) is not False:
            try:
                return bytes(self._call(lambda key: key.decrypt(ciphertext, mechanism=p11.Mechanism.RSA_PKCS_OAEP,
                                                                mechanism_param=(hash_mech, mgf_id, label))))
            except (p11.exceptions.ArgumentsBad, p11.exceptions.MechanismInvalid,
                    p11.exceptions.MechanismParamInvalid):
                # The token refused the parameters (SoftHSM 2.6 knows OAEP with SHA-1 only), before it looked at
                # the ciphertext: remembering that reveals nothing about any message.
                self.token.cache[native] = False
        return self._decrypt_oaep_raw(ciphertext, oaep)

    def _decrypt_oaep_raw(self, ciphertext: bytes, oaep: padding.OAEP) -> bytes:
        """OAEP for tokens without it: the raw RSA operation (CKM_RSA_X_509) on the token, then the OAEP decoding
        by OpenSSL (through pyca), never in Python: the encoded message is encrypted raw to a throwaway key of the
        same size kept in memory, which pyca then decrypts with the OAEP padding. Its checks are OpenSSL's
        constant-time ones, and a bad message fails with the same ValueError."""
        p11 = _pkcs11()
        size = (self.key_size + 7) // 8
        encoded = bytes(self._call(lambda key: key.decrypt(ciphertext, mechanism=p11.Mechanism.RSA_X_509)))
        encoded = encoded.rjust(size, b"\x00")
        carrier = self.token.cache.get(("carrier", self.key_size))
        if carrier is None:
            carrier = rsa.generate_private_key(65537, self.key_size)
            self.token.cache[("carrier", self.key_size)] = carrier
        numbers = carrier.public_key().public_numbers()
        raw = pow(int.from_bytes(encoded, "big"), numbers.e, numbers.n).to_bytes(size, "big")
        return bytes(carrier.decrypt(raw, oaep))

    def _rejection_material(self) -> bytes:
        p11 = _pkcs11()
        size = (self.key_size + 7) // 8
        fixed = b"\x00" + b"".join(hashlib.sha256(b"mailseal rejection %d" % i).digest() for i in range(size // 32 + 1))
        fixed = fixed[:size]
        try:
            return bytes(self._call(lambda key: key.decrypt(fixed, mechanism=p11.Mechanism.RSA_X_509)))
        except p11.exceptions.PKCS11Error:
            # PKCS#1 v1.5 signatures are deterministic too; the fixed message is no DigestInfo a CMS signer makes.
            return bytes(self._call(lambda key: key.sign(b"mailseal rejection secret",
                                                         mechanism=p11.Mechanism.RSA_PKCS)))


class TokenECPrivateKey(TokenKey, ec.EllipticCurvePrivateKey):
    """An EC private key on a token: ECDSA signatures (the hash computed here) and ECDH key agreement."""

    def __init__(self, token: TokenSession, uri: TokenURI, public: ec.EllipticCurvePublicKey) -> None:
        self._init_token(token, uri)
        self._public = public

    def public_key(self) -> ec.EllipticCurvePublicKey:
        return self._public

    @property
    def curve(self) -> ec.EllipticCurve:
        return self._public.curve

    @property
    def key_size(self) -> int:
        return self._public.curve.key_size

    def private_numbers(self) -> ec.EllipticCurvePrivateNumbers:
        _fail(self, "give its numbers")

    def __copy__(self) -> TokenECPrivateKey:
        return self

    def __deepcopy__(self, memo: dict[Any, Any]) -> TokenECPrivateKey:
        return self

    def sign(self, data: Buffer, signature_algorithm: ec.EllipticCurveSignatureAlgorithm) -> bytes:
        if not isinstance(signature_algorithm, ec.ECDSA):
            raise TokenError("only ECDSA signatures are supported with PKCS#11 EC keys")
        digest, _ = _digest(bytes(data), signature_algorithm.algorithm)
        # FIPS 186-4 §6.4: a digest longer than the group order is cut to its leftmost bits; do it here rather than
        # trust every token to.
        digest = digest[: (self.key_size + 7) // 8] if self.key_size % 8 == 0 else digest
        p11 = _pkcs11()
        try:
            raw = bytes(self._call(lambda key: key.sign(digest, mechanism=p11.Mechanism.ECDSA)))
        except p11.exceptions.PKCS11Error as exc:
            raise TokenError(f"the token {self.token.label!r} refused to sign: {type(exc).__name__}") from None
        half = len(raw) // 2
        return utils.encode_dss_signature(int.from_bytes(raw[:half], "big"), int.from_bytes(raw[half:], "big"))

    def exchange(self, algorithm: ec.ECDH, peer_public_key: ec.EllipticCurvePublicKey) -> bytes:
        """ECDH on the token (CKM_ECDH1_DERIVE, no KDF): the shared x-coordinate comes back as an extractable
        session secret, read once and destroyed."""
        if not isinstance(algorithm, ec.ECDH):
            raise TypeError("only ECDH is supported")
        if not isinstance(peer_public_key, ec.EllipticCurvePublicKey) or peer_public_key.curve.name != self.curve.name:
            raise ValueError("the peer key is not on the token key's curve")
        point = peer_public_key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
        self.rejection_secret()  # before, so that a failed agreement costs no extra token call (see decrypt)
        return self._derive(point)

    def _derive(self, point: bytes) -> bytes:
        p11 = _pkcs11()
        size = (self.key_size + 7) // 8

        def derive(key: Any) -> bytes:
            secret = key.derive_key(
                p11.KeyType.GENERIC_SECRET, size * 8, mechanism=p11.Mechanism.ECDH1_DERIVE,
                mechanism_param=(p11.mechanisms.KDF.NULL, None, point),
                template={p11.Attribute.SENSITIVE: False, p11.Attribute.EXTRACTABLE: True,
                          p11.Attribute.TOKEN: False})
            try:
                return bytes(secret[p11.Attribute.VALUE])
            finally:
                secret.destroy()

        try:
            return self._call(derive)
        except p11.exceptions.PKCS11Error as exc:
            raise ValueError(f"the token refused the key agreement: {type(exc).__name__}") from None

    def _rejection_material(self) -> bytes:
        scalar = int.from_bytes(hashlib.sha256(b"mailseal rejection point").digest(), "big") % (2**128) + 2
        fixed = ec.derive_private_key(scalar, self.curve).public_key()
        return self._derive(fixed.public_bytes(serialization.Encoding.X962,
                                               serialization.PublicFormat.UncompressedPoint))


TokenPrivateKey = TokenRSAPrivateKey | TokenECPrivateKey


# -- opening ----------------------------------------------------------------------------------------------------


def _ec_public(params: bytes, point: bytes) -> ec.EllipticCurvePublicKey:
    curve_name = keys.ECDomainParameters.load(params).chosen.native
    curve = _CURVES.get(str(curve_name))
    if curve is None:
        raise TokenError(f"EC curve {curve_name} is not supported")
    if point[:1] == b"\x04" and len(point) > 2 and point[1] + 2 == len(point):
        # CKA_EC_POINT is a DER OCTET STRING around the X9.62 point (PKCS#11 v2.40 §2.3.3); some tokens omit it.
        point = bytes(core.OctetString.load(point).native)
    return ec.EllipticCurvePublicKey.from_encoded_point(curve, point)


@dataclass
class _Found:
    kind: str
    public: rsa.RSAPublicKey | ec.EllipticCurvePublicKey | None
    id: bytes | None
    certificate: bytes | None


def _inspect(pooled: _Pooled, uri: TokenURI) -> _Found:
    p11 = _pkcs11()
    A = p11.Attribute
    try:
        key = _find(pooled, uri, p11.ObjectClass.PRIVATE_KEY)
    except p11.exceptions.NoSuchKey:
        raise TokenError(f"no private key {_name(uri)} on the token") from None
    except p11.exceptions.MultipleObjectsReturned:
        raise TokenError(f"several private keys match {_name(uri)}: name the key by id") from None
    key_id = bytes(key[A.ID]) if uri.id is None else uri.id
    certificate = None
    for obj in pooled.session.get_objects({A.CLASS: p11.ObjectClass.CERTIFICATE, A.ID: key_id}):
        certificate = bytes(obj[A.VALUE])
        break
    if key.key_type == p11.KeyType.RSA:
        n = int.from_bytes(bytes(key[A.MODULUS]), "big")
        e = int.from_bytes(bytes(key[A.PUBLIC_EXPONENT]), "big")
        return _Found("rsa", rsa.RSAPublicNumbers(e, n).public_key(), key_id, certificate)
    if key.key_type == p11.KeyType.EC:
        public: ec.EllipticCurvePublicKey | None = None
        for obj in pooled.session.get_objects({A.CLASS: p11.ObjectClass.PUBLIC_KEY, A.ID: key_id}):
            public = _ec_public(bytes(obj[A.EC_PARAMS]), bytes(obj[A.EC_POINT]))
            break
        return _Found("ec", public, key_id, certificate)
    raise TokenError(f"the key {_name(uri)} is of a type mailseal does not use ({key.key_type!r})")


def _name(uri: TokenURI) -> str:
    return f"label {uri.object!r}" if uri.object is not None else f"id {(uri.id or b'').hex()}"


def open_key(uri: str | TokenURI, public_key: Any = None,
             settings: TokenSettings | None = None) -> tuple[TokenPrivateKey, bytes | None]:
    """The key ``uri`` names and the DER certificate with the same id on the token (or None). ``public_key`` is
    needed for an EC key whose public key object is not on the token (the certificate's key will do)."""
    parsed = TokenURI.parse(uri) if isinstance(uri, str) else uri
    token = TokenSession.get(parsed, settings)
    p11 = _pkcs11()
    try:
        found = token.run(lambda pooled: _inspect(pooled, parsed))
    except p11.exceptions.PKCS11Error as exc:
        raise TokenError(f"the token {token.label!r} cannot be read: {type(exc).__name__}") from None
    if found.id is not None and parsed.id is None:
        parsed = replace(parsed, id=found.id)
    if found.kind == "rsa":
        assert isinstance(found.public, rsa.RSAPublicKey)
        return TokenRSAPrivateKey(token, parsed, found.public), found.certificate
    public = found.public
    if public is None and found.certificate is not None:
        from cryptography import x509

        public = x509.load_der_x509_certificate(found.certificate).public_key()  # type: ignore[assignment]
    if public is None:
        public = public_key
    if not isinstance(public, ec.EllipticCurvePublicKey):
        raise TokenError(f"the EC key {_name(parsed)} has no public key on the token: give its certificate")
    return TokenECPrivateKey(token, parsed, public), found.certificate


__all__ = [
    "MODULE_ENV",
    "PIN_ENV",
    "TokenECPrivateKey",
    "TokenKey",
    "TokenPrivateKey",
    "TokenRSAPrivateKey",
    "TokenSession",
    "TokenSettings",
    "TokenURI",
    "open_key",
]
