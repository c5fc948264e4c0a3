"""bridge.signing: three GOST R 34.10-2012 (256) signers, checked against OpenSSL and each other.

Keys come from ``openssl genpkey`` with the GOST engine (paramsets A, C and TCA). Every signer's raw
signature must verify with ``openssl dgst -verify``, with the pure-Python ``verify_raw`` and with the
(fake) CryptoPro ``csptest -verify``; every CMS with ``openssl cms -verify`` and ``verify_cms_detached``.
The CryptoPro signer runs through ``tests/signing/fake_csptest.py`` / ``fake_cryptcp.py``, which write
CryptoPro's byte layout, so OpenSSL accepting its output proves the reversal.

Without the OpenSSL GOST engine these tests fail (never skip): CI installs it.
"""

from __future__ import annotations

import os
import shlex
import stat
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import pytest
from asn1crypto import core, pem  # type: ignore[import-untyped]
from prometheus_client import REGISTRY
from pydantic import SecretStr
from typer.testing import CliRunner

from bridge.signing import (
    CryptoProSigner,
    OpenSslSigner,
    PythonSigner,
    Signer,
    SignerConfig,
    SigningError,
    _gost,
    base64url,
    certificate_hash,
    certificate_not_after,
    check_gost_engine,
    generate_test_key,
    load_certificate,
    load_signer,
    observe_certificate,
    streebog256,
    verify_cms_detached,
    verify_raw,
)
from bridge.signing._asn1 import parse_private_key
from bridge.signing._cli import app as keys_app
from tests.signing.material import (
    CONTAINER,
    KEY_PASSWORD,
    PIN,
    Material,
    csptest_verify,
    make_material,
    openssl_environment,
    openssl_ok,
    openssl_verify_cms,
    openssl_verify_raw,
)

PARAMSETS = ("A", "C", "TCA")
KINDS = ("python", "openssl", "cryptopro")
MESSAGE = b"esia-mnemonicopenid fullname2025.09.02 13:00:29 +0300c0ffee00-0000-4000-8000-000000000000"


@pytest.fixture(scope="session")
def openssl_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Environment for running the openssl CLI in the tests; fails (never skips) without the engine."""
    return openssl_environment(tmp_path_factory)


@pytest.fixture(scope="session", params=PARAMSETS, ids=[f"paramset-{p}" for p in PARAMSETS])
def material(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, openssl_env: dict[str, str]
) -> Material:
    paramset: str = request.param
    return make_material(tmp_path_factory.mktemp(f"gost-{paramset}"), paramset, openssl_env)


def _config(material: Material, kind: str) -> SignerConfig:
    if kind == "cryptopro":
        return SignerConfig(
            kind="cryptopro",
            container=CONTAINER,
            key_password=PIN,
            certificate_file=material.cert,
            csptest_path=str(material.bin / "csptest"),
            cryptcp_path=str(material.bin / "cryptcp"),
        )
    return SignerConfig(
        kind="python" if kind == "python" else "openssl", key_file=material.key, certificate_file=material.cert
    )


@dataclass
class Signed:
    signer: Signer
    raw: bytes
    cms: bytes


@pytest.fixture(scope="session")
def signed(material: Material) -> dict[str, Signed]:
    """Each signer of this paramset and its raw and CMS signatures of MESSAGE (made once)."""
    result = {}
    for kind in KINDS:
        signer = load_signer(_config(material, kind))
        result[kind] = Signed(signer, signer.sign_raw(MESSAGE), signer.sign_cms_detached(MESSAGE))
    return result


# --------------------------------------------------------------------------- the engine


def test_openssl_gost_engine_is_installed() -> None:
    try:
        check_gost_engine()
    except SigningError as exc:
        pytest.fail(f"{exc} — CI installs it via scripts/install-system-deps.sh")


def test_missing_engine_error_names_the_apt_command(tmp_path: Path) -> None:
    fake = tmp_path / "openssl"
    fake.write_text("#!/bin/sh\necho 'dgst: Unknown option or message digest: md_gost12_256' >&2\nexit 1\n")
    fake.chmod(0o755)
    with pytest.raises(SigningError, match="apt-get install -y libengine-gost-openssl"):
        check_gost_engine(str(fake))


# --------------------------------------------------------------------------- raw signatures: the cross-check matrix


@pytest.mark.parametrize("kind", KINDS)
def test_raw_signature_verifies_with_every_verifier(
    kind: str, material: Material, signed: dict[str, Signed], openssl_env: dict[str, str]
) -> None:
    raw = signed[kind].raw
    assert len(raw) == 64
    assert verify_raw(material.certificate_der, MESSAGE, raw), "pure-Python verify_raw"
    assert openssl_verify_raw(openssl_env, material, MESSAGE, raw, f"raw-{kind}"), "openssl dgst -verify"
    assert csptest_verify(material, MESSAGE, raw[::-1], f"raw-{kind}"), "csptest -verify (CryptoPro layout)"
    assert len(base64url(raw)) == 86


@pytest.mark.parametrize("kind", ["python", "openssl"])  # the fake csptest's randomness is the Python signer's
def test_signatures_are_randomised(kind: str, material: Material, signed: dict[str, Signed]) -> None:
    assert signed[kind].signer.sign_raw(MESSAGE) != signed[kind].raw


def test_tampered_message_or_signature_fails(
    material: Material, signed: dict[str, Signed], openssl_env: dict[str, str]
) -> None:
    tampered_message = MESSAGE.replace(b"openid", b"openiD")
    for kind, result in signed.items():
        raw = result.raw
        flipped = bytes([raw[0] ^ 0x01]) + raw[1:]
        assert not verify_raw(material.certificate_der, tampered_message, raw), kind
        assert not verify_raw(material.certificate_der, MESSAGE, flipped), kind
        assert not verify_raw(material.certificate_der, MESSAGE, raw[::-1]), f"{kind}: CryptoPro layout must not verify"
        assert not verify_raw(material.certificate_der, MESSAGE, raw[:63]), kind
        assert not openssl_verify_raw(openssl_env, material, tampered_message, raw, f"tamper-{kind}"), kind
        assert not openssl_verify_raw(openssl_env, material, MESSAGE, flipped, f"flip-{kind}"), kind


def test_cryptopro_writes_reversed_bytes_and_the_signer_reverses_them(
    material: Material, openssl_env: dict[str, str]
) -> None:
    (material.directory / "csp.in").write_bytes(MESSAGE)
    command = (
        f"-keyset -sign GOST12_256 -container {CONTAINER} -keytype exchange -in csp.in -out csp.sig -password {PIN}"
    )
    argv = [str(material.bin / "csptest"), *shlex.split(command)]
    done = subprocess.run(argv, cwd=material.directory, capture_output=True, check=False)
    assert done.returncode == 0, done.stderr.decode()
    as_written = (material.directory / "csp.sig").read_bytes()
    assert not openssl_verify_raw(openssl_env, material, MESSAGE, as_written, "csp-as-written")
    assert openssl_verify_raw(openssl_env, material, MESSAGE, as_written[::-1], "csp-reversed")


def test_cryptopro_tools_are_found_on_path(material: Material, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", f"{material.bin}{os.pathsep}{os.environ['PATH']}")
    signer = load_signer(
        SignerConfig(kind="cryptopro", container=CONTAINER, key_password=SecretStr(PIN), certificate_file=material.cert)
    )
    assert verify_raw(material.certificate_der, MESSAGE, signer.sign_raw(MESSAGE))


# --------------------------------------------------------------------------- CMS


@pytest.mark.parametrize("kind", KINDS)
def test_cms_verifies_with_openssl_and_python(
    kind: str, material: Material, signed: dict[str, Signed], openssl_env: dict[str, str]
) -> None:
    cms_der = signed[kind].cms
    assert verify_cms_detached(cms_der, MESSAGE), "pure-Python verify_cms_detached"
    assert openssl_verify_cms(openssl_env, material, MESSAGE, cms_der, f"cms-{kind}"), "openssl cms -verify"
    assert not verify_cms_detached(cms_der, MESSAGE + b" "), "tampered message"
    assert not openssl_verify_cms(openssl_env, material, MESSAGE + b" ", cms_der, f"cms-tamper-{kind}")
    assert cms_der[-66:-64] == b"\x04\x40", "the SignerInfo signature is the last field"
    flipped = cms_der[:-1] + bytes([cms_der[-1] ^ 0x01])
    assert not verify_cms_detached(flipped, MESSAGE), "tampered signature"
    assert not openssl_verify_cms(openssl_env, material, MESSAGE, flipped, f"cms-flip-{kind}")


def test_openssl_cms_with_signed_attributes_verifies_in_python(material: Material, openssl_env: dict[str, str]) -> None:
    (material.directory / "attr.msg").write_bytes(MESSAGE)
    command = "cms -sign -binary -outform DER -md md_gost12_256 -signer cert.pem -inkey key.pem -in attr.msg"
    cms_der = openssl_ok(openssl_env, command, material.directory)  # with signed attributes: no -noattr
    assert verify_cms_detached(cms_der, MESSAGE)
    assert not verify_cms_detached(cms_der, MESSAGE[:-1])


def test_verify_cms_detached_rejects_garbage(material: Material, signed: dict[str, Signed]) -> None:
    assert not verify_cms_detached(b"", MESSAGE)
    assert not verify_cms_detached(b"\x30\x03\x02\x01\x01", MESSAGE)
    assert not verify_cms_detached(signed["python"].raw, MESSAGE)


# --------------------------------------------------------------------------- hashes and certificates


def test_certificate_hash_matches_openssl(material: Material, openssl_env: dict[str, str]) -> None:
    out = openssl_ok(openssl_env, "dgst -md_gost12_256 -r cert.der", material.directory)
    expected = out.split()[0].decode().upper()
    assert certificate_hash(material.certificate_der) == expected
    assert len(expected) == 64


@pytest.mark.parametrize("size", [0, 1, 63, 64, 65, 1000])
def test_streebog256_matches_openssl(size: int, openssl_env: dict[str, str], tmp_path: Path) -> None:
    data = bytes(range(256)) * 4
    data = data[:size]
    out = openssl_ok(openssl_env, "dgst -md_gost12_256 -r", tmp_path, stdin=data)
    assert streebog256(data).hex() == out.split()[0].decode()


def test_certificate_loading_and_expiry(material: Material, openssl_env: dict[str, str]) -> None:
    assert load_certificate(material.cert) == load_certificate(material.cert_der_file) == material.certificate_der
    out = openssl_ok(openssl_env, "x509 -in cert.pem -noout -enddate", material.directory)
    expected = datetime.strptime(out.decode().strip().removeprefix("notAfter="), "%b %d %H:%M:%S %Y GMT")
    assert certificate_not_after(material.certificate_der) == expected.replace(tzinfo=UTC)


def test_load_certificate_rejects_non_certificates(material: Material, tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.cer"
    garbage.write_bytes(b"not a certificate")
    with pytest.raises(SigningError, match=r"not an X\.509 certificate"):
        load_certificate(garbage)
    with pytest.raises(SigningError, match="PRIVATE KEY"):
        load_certificate(material.key)
    with pytest.raises(SigningError, match="cannot read"):
        load_certificate(tmp_path / "missing.pem")


def test_base64url_has_no_padding() -> None:
    assert base64url(b"\xfb\xff") == "-_8"
    assert base64url(b"") == ""


# --------------------------------------------------------------------------- keys and passwords


@pytest.mark.parametrize("kind", ["python", "openssl"])
@pytest.mark.parametrize("which", ["encrypted_key", "gost_encrypted_key"])
def test_encrypted_keys_with_the_right_password(kind: str, which: str, material: Material) -> None:
    config = SignerConfig(
        kind="python" if kind == "python" else "openssl",
        key_file=getattr(material, which),
        key_password=SecretStr(KEY_PASSWORD),
        certificate_file=material.cert,
    )
    signer = load_signer(config)
    assert verify_raw(material.certificate_der, MESSAGE, signer.sign_raw(MESSAGE))
    assert KEY_PASSWORD not in repr(config) and KEY_PASSWORD not in repr(signer)


@pytest.mark.parametrize("kind", KINDS)
def test_wrong_password_is_a_signing_error_without_the_secret(kind: str, material: Material) -> None:
    wrong = "wr0ng-Secret-value"
    if kind == "cryptopro":
        config = SignerConfig(
            kind="cryptopro",
            container=CONTAINER,
            key_password=wrong,
            certificate_file=material.cert,
            csptest_path=str(material.bin / "csptest"),
            cryptcp_path=str(material.bin / "cryptcp"),
        )
        signer = load_signer(config)  # CryptoPro checks the PIN only when signing
        for sign in (signer.sign_raw, signer.sign_cms_detached):
            with pytest.raises(SigningError) as caught:
                sign(MESSAGE)
            message = str(caught.value)
            assert "Wrong PIN" in message, message
            assert wrong not in message and PIN not in message, message
        return
    config = SignerConfig(
        kind="python" if kind == "python" else "openssl",
        key_file=material.encrypted_key,
        key_password=wrong,
        certificate_file=material.cert,
    )
    with pytest.raises(SigningError) as caught:
        load_signer(config)
    message = str(caught.value)
    assert "wrong password" in message, message
    assert wrong not in message and KEY_PASSWORD not in message, message


def test_encrypted_key_without_password(material: Material) -> None:
    with pytest.raises(SigningError, match="encrypted and no key_password"):
        load_signer(SignerConfig(kind="python", key_file=material.encrypted_key, certificate_file=material.cert))
    with pytest.raises(SigningError, match="encrypted and no key_password"):
        load_signer(SignerConfig(kind="python", key_file=material.gost_encrypted_key, certificate_file=material.cert))


def test_key_and_certificate_must_belong_together(tmp_path: Path, openssl_env: dict[str, str]) -> None:
    key_pem, _ = generate_test_key("A")
    _, other_cert = generate_test_key("A")
    (tmp_path / "key.pem").write_bytes(key_pem)
    (tmp_path / "cert.pem").write_bytes(other_cert)
    for kind in ("python", "openssl"):
        with pytest.raises(SigningError, match="does not belong"):
            load_signer(SignerConfig(kind=kind, key_file=tmp_path / "key.pem", certificate_file=tmp_path / "cert.pem"))


def _der(tag: int, content: bytes) -> bytes:
    assert len(content) < 256
    return bytes([tag]) + (bytes([len(content)]) if len(content) < 128 else bytes([0x81, len(content)])) + content


def test_older_private_key_encodings(material: Material, tmp_path: Path) -> None:
    """gost-engine reads the key as a raw LE scalar, a nested LE OCTET STRING, or a BE INTEGER; so does the bridge."""
    _, _, der = pem.unarmor(material.key.read_bytes())
    original = parse_private_key(der)
    info = core.Sequence.load(der)
    head = info[0].dump() + info[1].dump()
    scalar_le = info[2].native
    nested = _der(0x30, head + _der(0x04, _der(0x04, scalar_le)))
    integer = _der(0x30, head + _der(0x04, core.Integer(int.from_bytes(scalar_le, "little")).dump()))
    for name, variant in (("nested", nested), ("integer", integer)):
        assert parse_private_key(variant) == original, name
        path = tmp_path / f"{name}.der"
        path.write_bytes(variant)
        signer = PythonSigner.from_files(path, material.cert)
        assert verify_raw(material.certificate_der, MESSAGE, signer.sign_raw(MESSAGE))


def test_private_key_file_errors(tmp_path: Path, material: Material) -> None:
    with pytest.raises(SigningError, match="cannot read private key"):
        PythonSigner.from_files(tmp_path / "missing.pem", material.cert)
    with pytest.raises(SigningError, match="PEM block is 'CERTIFICATE'"):
        PythonSigner.from_files(material.cert, material.cert)
    junk = tmp_path / "junk.der"
    junk.write_bytes(b"\x30\x03\x02\x01\x00")
    with pytest.raises(SigningError, match="not a PKCS#8"):
        PythonSigner.from_files(junk, material.cert)


# --------------------------------------------------------------------------- configuration


def test_load_signer_builds_each_kind(material: Material, signed: dict[str, Signed]) -> None:
    assert isinstance(signed["python"].signer, PythonSigner)
    assert isinstance(signed["openssl"].signer, OpenSslSigner)
    assert isinstance(signed["cryptopro"].signer, CryptoProSigner)
    for result in signed.values():
        assert isinstance(result.signer, Signer)
        assert result.signer.certificate_der == material.certificate_der


def test_load_signer_names_missing_settings(material: Material) -> None:
    with pytest.raises(SigningError, match="needs certificate_file"):
        load_signer(SignerConfig(kind="python", key_file=material.key))
    with pytest.raises(SigningError, match="needs key_file"):
        load_signer(SignerConfig(kind="openssl", certificate_file=material.cert))
    with pytest.raises(SigningError, match="needs container"):
        load_signer(SignerConfig(kind="cryptopro", certificate_file=material.cert))
    with pytest.raises(SigningError, match="csptest not found"):
        load_signer(
            SignerConfig(
                kind="cryptopro", container="x", certificate_file=material.cert, csptest_path="/nonexistent/csptest"
            )
        )
    with pytest.raises(SigningError, match="unknown signer kind"):
        load_signer(SignerConfig(kind="hsm", certificate_file=material.cert))  # type: ignore[arg-type]


def test_signer_config_repr_hides_the_password() -> None:
    assert "s3cret" not in repr(SignerConfig(kind="python", key_password="s3cret"))
    assert SignerConfig(kind="python", key_password=SecretStr("s3cret")).password() == "s3cret"
    assert SignerConfig(kind="python", key_password="").password() is None


def test_generate_test_key_rejects_unknown_paramset() -> None:
    with pytest.raises(SigningError, match="unknown paramset"):
        generate_test_key("Z")


# --------------------------------------------------------------------------- metrics


def test_certificate_expiry_gauge(material: Material) -> None:
    observe_certificate("esia-client", material.certificate_der)
    value = REGISTRY.get_sample_value("bridge_certificate_expiry_seconds", {"certificate": "esia-client"})
    assert value is not None
    expected = (certificate_not_after(material.certificate_der) - datetime.now(UTC)).total_seconds()
    assert abs(value - expected) < 60
    with pytest.raises(SigningError, match="short name"):
        observe_certificate("CN=Иванов Иван", material.certificate_der)


# --------------------------------------------------------------------------- bridge keys CLI


@pytest.fixture
def runner() -> Iterator[CliRunner]:
    yield CliRunner()


def test_cli_generate_hash_show(runner: CliRunner, tmp_path: Path, openssl_env: dict[str, str]) -> None:
    key, cert = tmp_path / "key.pem", tmp_path / "cert.pem"
    result = runner.invoke(
        keys_app,
        [
            "generate",
            "--out-key",
            str(key),
            "--out-cert",
            str(cert),
            "--paramset",
            "B",
            "--subject",
            "/CN=Test MIS/C=RU",
            "--days",
            "30",
        ],
    )
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    der = load_certificate(cert)
    assert certificate_hash(der) in result.output
    signer = PythonSigner.from_files(key, cert)
    assert verify_raw(der, MESSAGE, signer.sign_raw(MESSAGE))

    again = runner.invoke(keys_app, ["generate", "--out-key", str(key), "--out-cert", str(cert)])
    assert again.exit_code == 1 and "exists" in again.output

    hashed = runner.invoke(keys_app, ["hash", str(cert)])
    assert hashed.exit_code == 0 and hashed.output.strip() == certificate_hash(der)

    shown = runner.invoke(keys_app, ["show", str(cert)])
    assert shown.exit_code == 0, shown.output
    assert "Common Name: Test MIS" in shown.output
    assert "days left: 29" in shown.output or "days left: 30" in shown.output
    assert certificate_hash(der) in shown.output


def test_cli_reports_bad_files(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(keys_app, ["hash", str(tmp_path / "missing.pem")])
    assert result.exit_code == 1
    assert "cannot read certificate" in result.output


def test_the_modular_inverse_gostcrypto_is_given_agrees_with_its_own() -> None:
    """bridge.signing._gost replaces gostcrypto's recursive extended Euclid with pow(x, -1, n)."""
    import random

    from gostcrypto.gostsignature import gost_34_10_2012  # type: ignore[import-untyped]

    import bridge.signing._gost  # noqa: F401 - applies the replacement

    def euclid(value: int, n_mod: int) -> int:  # gostcrypto's own, as published
        def gcdex(a: int, b: int) -> tuple[int, int, int]:
            if b == 0:
                return a, 1, 0
            gcd, x, y = gcdex(b, a % b)
            return gcd, y, x - y * (a // b)
        result = gcdex(value, n_mod)[1]
        return result + n_mod if result < 0 else result

    p = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFD97  # paramSetA's p (prime)
    rng = random.Random(2026)
    for value in [1, 2, 4, 6, p - 1, *(rng.randrange(1, p) for _ in range(200))]:
        assert gost_34_10_2012.GOST34102012._invert(value, p) == euclid(value, p)


@pytest.mark.parametrize("curve_oid", sorted(set(_gost.CURVE_NAMES)))
def test_the_jacobian_multiplication_gives_gostcryptos_points(curve_oid: str) -> None:
    """bridge.signing._curve replaces gostcrypto's affine double-and-add: the same k·P for the base point and
    for another point, on every parameter set (the twisted Edwards one, A, through gostcrypto's conversion),
    the reference being gostcrypto's own multiplication and addition put back for the comparison."""
    import random

    from gostcrypto.gostsignature import gost_34_10_2012

    curve = _gost._curve(curve_oid)
    rng = random.Random(curve_oid)
    scalars = [1, 2, 3, 15, 16, 17, curve._q - 1, *(rng.randrange(1, curve._q) for _ in range(6))]
    with pytest.MonkeyPatch.context() as patch:
        reference_mul, reference_add = _gost.GOSTSIGNATURE_REFERENCE
        patch.setattr(gost_34_10_2012.GOST34102012, "_mul_point", reference_mul)
        patch.setattr(gost_34_10_2012.GOST34102012, "_add", reference_add)
        other = curve._mul_point(rng.randrange(2, curve._q))
        expected = [(curve._mul_point(k), curve._mul_point(k, *other)) for k in scalars]
        fifth = curve._mul_point(5)
        sums = [curve._add(other[0], two[0], other[1], two[1]) for two in (other, fifth)]
    assert [(curve._mul_point(k), curve._mul_point(k, *other)) for k in scalars] == expected
    assert [curve._add(other[0], two[0], other[1], two[1]) for two in (other, fifth)] == sums
    with pytest.raises(ArithmeticError):
        curve._mul_point(curve._q)   # q·P is the point at infinity: gostcrypto had no answer for it
