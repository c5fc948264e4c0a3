"""Key material and independent verifiers for tests/unit/test_signing.py.

One :class:`Material` per GOST parameter set: a key and self-signed certificate from
``openssl genpkey``/``req`` (gost-engine), the same key password-protected twice (OpenSSL's default
AES-256-CBC and gost-engine's Kuznyechik CTR-ACPKM), and ``csptest``/``cryptcp`` wrappers around
the fakes in this directory with that key "in the container".
"""

from __future__ import annotations

import os
import shlex
import stat
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from bridge.signing import Signer, SignerConfig, SigningError, check_gost_engine, generate_test_key, load_signer

__all__ = [
    "CONTAINER",
    "KEY_PASSWORD",
    "OPENSSL_CNF",
    "PIN",
    "Material",
    "csptest_verify",
    "gost_materials",
    "make_material",
    "openssl",
    "openssl_environment",
    "openssl_ok",
    "openssl_verify_cms",
    "openssl_verify_raw",
    "python_signer",
]

HERE = Path(__file__).resolve().parent
KEY_PASSWORD = "k3y-Pa55word!"
PIN = "container-PIN-9876"
CONTAINER = "esia-test-container"
OPENSSL_CNF = """\
openssl_conf = openssl_init
[openssl_init]
engines = engines
[engines]
gost = gost_engine
[gost_engine]
default_algorithms = ALL
"""


def openssl(
    env: dict[str, str], command: str, cwd: Path, stdin: bytes | None = None
) -> subprocess.CompletedProcess[bytes]:
    """Run ``openssl <command>`` (split like a shell would) with ``env`` (OPENSSL_CONF enabling the engine)."""
    argv = ["openssl", *shlex.split(command)]
    return subprocess.run(argv, cwd=cwd, env=env, input=stdin, capture_output=True, check=False)


def openssl_ok(env: dict[str, str], command: str, cwd: Path, stdin: bytes | None = None) -> bytes:
    done = openssl(env, command, cwd, stdin)
    assert done.returncode == 0, f"openssl {command}: {done.stderr.decode()}"
    return done.stdout


@dataclass(frozen=True)
class Material:
    paramset: str
    directory: Path
    key: Path
    cert: Path
    cert_der_file: Path
    pub: Path
    encrypted_key: Path  # PEM, PBES2 with OpenSSL's default cipher (AES-256-CBC)
    gost_encrypted_key: Path  # DER, PBES2 with gost-engine's Kuznyechik CTR-ACPKM
    certificate_der: bytes
    bin: Path  # csptest and cryptcp wrappers around the fakes


def _wrapper(path: Path, fake: str, env: dict[str, str]) -> None:
    exports = "".join(f"export {name}={shlex.quote(value)}\n" for name, value in env.items())
    path.write_text(f'#!/bin/sh\n{exports}exec {shlex.quote(sys.executable)} {shlex.quote(str(HERE / fake))} "$@"\n')
    path.chmod(path.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)


def make_material(directory: Path, paramset: str, env: dict[str, str]) -> Material:
    key_pem, cert_pem = generate_test_key(paramset, subject=f"/CN=MIS Bridge test {paramset}/C=RU")
    (directory / "key.pem").write_bytes(key_pem)
    (directory / "cert.pem").write_bytes(cert_pem)
    openssl_ok(env, "x509 -in cert.pem -outform DER -out cert.der", directory)
    openssl_ok(env, "pkey -in key.pem -pubout -out pub.pem", directory)
    with_password = {**env, "PW": KEY_PASSWORD}
    openssl_ok(with_password, "pkcs8 -topk8 -in key.pem -passout env:PW -out enc.pem", directory)
    openssl_ok(
        with_password,
        "pkcs8 -topk8 -in key.pem -v2 kuznyechik-ctr-acpkm -passout env:PW -outform DER -out enc-gost.der",
        directory,
    )
    bin_dir = directory / "bin"
    bin_dir.mkdir()
    fake_env = {
        "FAKE_CRYPTOPRO_KEY": str(directory / "key.pem"),
        "FAKE_CRYPTOPRO_CERT": str(directory / "cert.pem"),
        "FAKE_CRYPTOPRO_CONTAINER": CONTAINER,
        "FAKE_CRYPTOPRO_PIN": PIN,
    }
    _wrapper(bin_dir / "csptest", "fake_csptest.py", fake_env)
    _wrapper(bin_dir / "cryptcp", "fake_cryptcp.py", fake_env)
    return Material(
        paramset=paramset,
        directory=directory,
        key=directory / "key.pem",
        cert=directory / "cert.pem",
        cert_der_file=directory / "cert.der",
        pub=directory / "pub.pem",
        encrypted_key=directory / "enc.pem",
        gost_encrypted_key=directory / "enc-gost.der",
        certificate_der=(directory / "cert.der").read_bytes(),
        bin=bin_dir,
    )


def openssl_verify_raw(env: dict[str, str], material: Material, data: bytes, signature: bytes, tag: str) -> bool:
    """``openssl dgst -md_gost12_256 -verify pub.pem -signature sig msg``."""
    (material.directory / f"{tag}.msg").write_bytes(data)
    (material.directory / f"{tag}.sig").write_bytes(signature)
    command = f"dgst -md_gost12_256 -verify pub.pem -signature {tag}.sig {tag}.msg"
    done = openssl(env, command, material.directory)
    return done.returncode == 0 and b"Verified OK" in done.stdout


def openssl_verify_cms(env: dict[str, str], material: Material, data: bytes, cms_der: bytes, tag: str) -> bool:
    """``openssl cms -verify -binary -inform DER -content msg -noverify``."""
    (material.directory / f"{tag}.msg").write_bytes(data)
    (material.directory / f"{tag}.p7s").write_bytes(cms_der)
    command = f"cms -verify -binary -inform DER -in {tag}.p7s -content {tag}.msg -noverify -out {os.devnull}"
    return openssl(env, command, material.directory).returncode == 0


def csptest_verify(material: Material, data: bytes, cryptopro_layout: bytes, tag: str) -> bool:
    """The (fake) ``csptest -keyset -verify GOST12_256``, which takes CryptoPro's reversed layout."""
    (material.directory / f"{tag}.msg").write_bytes(data)
    (material.directory / f"{tag}.csp").write_bytes(cryptopro_layout)
    command = f"-keyset -verify GOST12_256 -in {tag}.msg -signature {tag}.csp -certificate cert.pem"
    argv = [str(material.bin / "csptest"), *shlex.split(command)]
    return subprocess.run(argv, cwd=material.directory, capture_output=True, check=False).returncode == 0


def openssl_environment(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The environment for the openssl CLI with gost-engine; the test fails (never skips), saying how to
    get the engine, where it is missing."""
    try:
        check_gost_engine()
    except SigningError as exc:
        pytest.fail(f"{exc} — CI installs it via scripts/install-system-deps.sh")
    conf = tmp_path_factory.mktemp("openssl") / "openssl.cnf"
    conf.write_text(OPENSSL_CNF)
    return {**os.environ, "OPENSSL_CONF": str(conf)}


def gost_materials(tmp_path_factory: pytest.TempPathFactory, *names: str, paramset: str = "A") -> list[Material]:
    """A GOST key and certificate made by openssl for each of ``names``."""
    env = openssl_environment(tmp_path_factory)
    return [make_material(tmp_path_factory.mktemp(name), paramset, env) for name in names]


def python_signer(material: Material) -> Signer:
    """The bridge's pure-Python signer with ``material``'s key and certificate."""
    return load_signer(SignerConfig(kind="python", key_file=material.key, certificate_file=material.cert))
