"""ValidationContext and validate_path (RFC 5280 §6), and the signer statuses judgement gives them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from mailseal.cms.verification import SignerCheck
from mailseal.mime.judgement import judge_signer
from mailseal.pki.fetching import FetchPolicy
from mailseal.pki.truststore import TrustStore
from mailseal.pki.validation import ValidationContext, validate_path
from tests.conftest import RunCli
from tests.support.revocation_servers import RevocationCA
from tests.support.testpki import TestPKI

NOW = datetime.now(UTC)
POLICY_A = x509.ObjectIdentifier("1.3.6.1.4.1.55555.1.1")
POLICY_B = x509.ObjectIdentifier("1.3.6.1.4.1.55555.1.2")


def _ctx(pki: TestPKI, **kwargs: object) -> ValidationContext:
    return ValidationContext(trust=TrustStore((pki.root_cert,)), **kwargs)  # type: ignore[arg-type]


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _sub_ca(pki: TestPKI, cn: str, extensions: list[x509.ExtensionType]) -> tuple[x509.Certificate,
                                                                                    ec.EllipticCurvePrivateKey]:
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (
        x509.CertificateBuilder().subject_name(_name(cn)).issuer_name(pki.root_cert.subject)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(NOW - timedelta(days=1)).not_valid_after(NOW + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True)
    )
    for ext in extensions:
        builder = builder.add_extension(ext, critical=isinstance(ext, x509.NameConstraints))
    return builder.sign(pki.root_key, hashes.SHA256()), key


def _leaf(issuer: x509.Certificate, issuer_key: ec.EllipticCurvePrivateKey, email: str,
          policies: list[x509.ObjectIdentifier] | None = None) -> x509.Certificate:
    key = ec.generate_private_key(ec.SECP256R1())
    builder = (
        x509.CertificateBuilder().subject_name(_name(email)).issuer_name(issuer.subject)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(NOW - timedelta(days=1)).not_valid_after(NOW + timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
        .add_extension(x509.SubjectAlternativeName([x509.RFC822Name(email)]), critical=False)
    )
    if policies:
        builder = builder.add_extension(
            x509.CertificatePolicies([x509.PolicyInformation(p, None) for p in policies]), critical=False
        )
    return builder.sign(issuer_key, hashes.SHA256())


# -- the context ------------------------------------------------------------------------------------------------


def test_context_defaults_are_soft_fail_any_policy_no_fetching() -> None:
    ctx = ValidationContext()
    assert (ctx.revocation_mode, ctx.allow_fetching, ctx.policies, ctx.check_address) == (
        "soft-fail", False, ("anyPolicy",), True)
    params = ctx.pkix_params()
    assert params.user_initial_policy_set == frozenset({"any_policy"})
    assert not (params.initial_explicit_policy or params.initial_policy_mapping_inhibit
                or params.initial_any_policy_inhibit)


def test_context_maps_the_four_initial_inputs() -> None:
    params = ValidationContext(policies=("1.2.3", "2.5.29.32.0"), explicit_policy=True, inhibit_policy_mapping=True,
                               inhibit_any_policy=True).pkix_params()
    assert params.user_initial_policy_set == frozenset({"1.2.3", "any_policy"})
    assert params.initial_explicit_policy and params.initial_policy_mapping_inhibit
    assert params.initial_any_policy_inhibit


@pytest.mark.parametrize("kwargs", [{"revocation_mode": "strict"}, {"policies": ()}, {"policies": ("policy-1",)},
                                    {"moment": datetime(2020, 1, 1)}])
def test_context_refuses_contradictions_eagerly(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        ValidationContext(**kwargs)  # type: ignore[arg-type]


# -- paths ------------------------------------------------------------------------------------------------------


def test_no_anchors_is_untrusted(pki: TestPKI) -> None:
    result = validate_path(pki.user("alice").cert, (), ValidationContext())
    assert (result.trusted, result.status, result.revocation) == (False, "untrusted", "not-checked")


def test_valid_chain_without_revocation_information_is_valid_revocation_unknown(pki: TestPKI) -> None:
    user = pki.user("alice")
    result = validate_path(user.cert, [pki.intermediate_cert], _ctx(pki))
    assert (result.status, result.revocation) == ("valid", "unknown")
    assert result.chain == (user.cert, pki.intermediate_cert, pki.root_cert)
    assert any(r.startswith("revocation unknown:") for r in result.reasons)


def test_revocation_off_is_not_checked(pki: TestPKI) -> None:
    result = validate_path(pki.user("alice").cert, [pki.intermediate_cert], _ctx(pki, revocation_mode="off"))
    assert (result.status, result.revocation) == ("valid", "not-checked")


def test_hard_fail_without_revocation_information_is_revocation_unknown(pki: TestPKI) -> None:
    result = validate_path(pki.user("alice").cert, [pki.intermediate_cert], _ctx(pki, revocation_mode="hard-fail"))
    assert (result.trusted, result.status, result.revocation) == (False, "revocation-unknown", "unknown")


def test_soft_fail_with_a_crl_for_only_the_leaf_checks_it_and_reports_the_rest_unknown(pki: TestPKI) -> None:
    ca = RevocationCA(pki)
    user = ca.user("partly")
    ca.revoke(user.cert)
    assert validate_path(user.cert, (), _ctx(pki, crls=(ca.crl(),))).status == "revoked"
    good = ca.user("partly-good")
    result = validate_path(good.cert, (), _ctx(pki, crls=(ca.crl(),), revocation_mode="hard-fail"))
    assert (result.status, result.revocation) == ("valid", "good")


def test_stale_crl_given_is_not_enough_in_hard_mode(pki: TestPKI) -> None:
    ca = RevocationCA(pki)
    user = ca.user("stale-given")
    old = ca.crl(this_update=NOW - timedelta(days=10), next_update=NOW - timedelta(days=9))
    result = validate_path(user.cert, (), _ctx(pki, crls=(old,), revocation_mode="hard-fail"))
    assert result.status == "revocation-unknown"


def test_extra_intermediates_from_the_context_build_the_path(pki: TestPKI) -> None:
    user = pki.user("alice")
    assert validate_path(user.cert, (), _ctx(pki)).status == "untrusted"
    result = validate_path(user.cert, (), _ctx(pki, intermediates=(pki.intermediate_cert,)))
    assert result.status == "valid"


def test_expired_certificate_is_expired(pki: TestPKI) -> None:
    user = pki.user("old", not_after=NOW - timedelta(days=1), not_before=NOW - timedelta(days=10))
    assert validate_path(user.cert, [pki.intermediate_cert], _ctx(pki)).status == "expired"


def test_validation_time_is_the_context_moment(pki: TestPKI) -> None:
    user = pki.user("alice")
    later = _ctx(pki, moment=NOW + timedelta(days=400))
    assert validate_path(user.cert, [pki.intermediate_cert], later).status == "expired"


def test_rfc822_name_constraints_are_enforced(pki: TestPKI) -> None:
    constraints = x509.NameConstraints(permitted_subtrees=[x509.RFC822Name("example.org")], excluded_subtrees=None)
    ca, key = _sub_ca(pki, "constrained CA", [constraints])
    inside = validate_path(_leaf(ca, key, "carol@example.org"), [ca], _ctx(pki))
    outside = validate_path(_leaf(ca, key, "mallory@example.net"), [ca], _ctx(pki))
    assert inside.status == "valid"
    assert outside.status == "untrusted" and "name" in outside.reasons[0].lower()


def test_user_initial_policy_set_with_explicit_policy(pki: TestPKI) -> None:
    ca, key = _sub_ca(pki, "policy CA", [x509.CertificatePolicies([x509.PolicyInformation(POLICY_A, None)])])
    leaf = _leaf(ca, key, "pat@example.org", [POLICY_A])
    assert validate_path(leaf, [ca], _ctx(pki, policies=(POLICY_A.dotted_string,), explicit_policy=True)).status \
        == "valid"
    wrong = validate_path(leaf, [ca], _ctx(pki, policies=(POLICY_B.dotted_string,), explicit_policy=True))
    assert wrong.status == "untrusted" and "polic" in wrong.reasons[0].lower()


def test_explicit_policy_fails_a_path_without_policies(pki: TestPKI) -> None:
    user = pki.user("alice")
    assert validate_path(user.cert, [pki.intermediate_cert], _ctx(pki, explicit_policy=True)).status == "untrusted"


def test_fetch_budget_refuses_requests_past_the_limit(pki: TestPKI) -> None:
    user = RevocationCA(pki).user("budget", crl_url="http://127.0.0.1:9/ca.crl")
    policy = FetchPolicy(allow_private=True, max_requests=0)
    result = validate_path(user.cert, (), _ctx(pki, allow_fetching=True, fetch_policy=policy))
    assert [(e.outcome, e.reason) for e in result.fetches] == [("refused", "budget")]


def test_fetching_caches_under_the_cache_dir_only(pki: TestPKI, tmp_path: Path) -> None:
    ctx = _ctx(pki, allow_fetching=True, cache_dir=tmp_path / "cache")
    assert validate_path(pki.user("alice").cert, [pki.intermediate_cert], ctx).status == "valid"
    assert not (tmp_path / "cache").exists()  # nothing was fetched, so nothing was written


# -- judgement --------------------------------------------------------------------------------------------------


def _check(cert: x509.Certificate) -> SignerCheck:
    return SignerCheck(index=0, certificate=cert, intact=True, failure=None, digest_algorithm="sha256",
                       signature_algorithm="sha256_ecdsa", signing_time=None, key_size=256, has_signed_attrs=True)


def test_judge_revoked_signer_is_revoked(pki: TestPKI) -> None:
    ca = RevocationCA(pki)
    user = ca.user("judged")
    ca.revoke(user.cert)
    result = judge_signer(_check(user.cert), [], _ctx(pki, crls=(ca.crl(),)), [user.email])
    assert result.status == "revoked" and not result.trusted


def test_judge_hard_fail_unknown_is_revocation_unknown(pki: TestPKI) -> None:
    user = RevocationCA(pki).user("hard")
    result = judge_signer(_check(user.cert), [], _ctx(pki, revocation_mode="hard-fail"), [user.email])
    assert result.status == "revocation-unknown" and not result.trusted


def test_judge_soft_fail_unknown_stays_valid_with_a_visible_reason(pki: TestPKI) -> None:
    user = RevocationCA(pki).user("soft")
    result = judge_signer(_check(user.cert), [], _ctx(pki), [user.email])
    assert result.status == "valid"
    assert any(r.startswith("revocation unknown:") for r in result.reasons)


def test_judge_address_check_off_skips_from(pki: TestPKI) -> None:
    user = RevocationCA(pki).user("noaddr")
    strict = judge_signer(_check(user.cert), [], _ctx(pki), ["someone@else.example"])
    lenient = judge_signer(_check(user.cert), [], _ctx(pki, check_address=False), ["someone@else.example"])
    assert (strict.status, lenient.status) == ("address-mismatch", "valid")


# -- command line options ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("args", [["--revocation", "sometimes"], ["--policy", "NIST-test-policy-1"],
                                  ["--allow-private-fetch"]])
def test_cli_refuses_bad_validation_options(args: list[str], run_cli: RunCli, pki: TestPKI) -> None:
    done = run_cli("verify", "--trust", str(pki.root_path), *args, input=b"From: a@example.org\r\n\r\nx\r\n")
    assert done.returncode == 2
    assert done.stderr.startswith(b"mailseal: error[usage]")


def test_cli_no_address_check_and_intermediate(pki: TestPKI, run_cli: RunCli, tmp_path: Path) -> None:
    import mailseal
    from mailseal.cms.identity import Identity

    user = pki.user("alice")
    identity = Identity(user.key, user.cert, ())
    signed = mailseal.sign(b"From: other@example.net\r\nTo: b@example.org\r\nSubject: s\r\n\r\nhi\r\n", identity,
                           allow_from_mismatch=True)  # the address check is what this test turns off
    (tmp_path / "m.eml").write_bytes(signed)
    base = ["verify", "--trust", str(pki.root_path), "-i", str(tmp_path / "m.eml"), "--json"]
    assert b'"status": "untrusted"' in run_cli(*base).stdout
    mismatch = run_cli(*base, "--intermediate", str(pki.intermediate_path))
    assert mismatch.returncode == 1 and b'"status": "address-mismatch"' in mismatch.stdout
    ok = run_cli(*base, "--intermediate", str(pki.intermediate_path), "--no-address-check")
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert b"revocation unknown" in ok.stdout
