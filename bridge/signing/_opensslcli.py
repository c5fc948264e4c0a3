"""OpenSSL 3 with the GOST engine: a private ``OPENSSL_CONF`` per call, passwords through the environment."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bridge.signing._errors import SigningError
from bridge.signing._process import run_tool

__all__ = [
    "APT_HINT",
    "PARAMSETS",
    "OpenSsl",
    "check_gost_engine",
    "generate_test_key",
]

APT_HINT = "apt-get install -y libengine-gost-openssl"
PARAMSETS = ("A", "B", "C", "XA", "XB", "TCA")
PASSIN_VARIABLE = "BRIDGE_SIGNING_PASSIN"

# esia.md §6.2; the [req] sections let ``openssl req -subj`` work without the system openssl.cnf.
_CONFIG = """\
openssl_conf = openssl_init
[openssl_init]
engines = engines
[engines]
gost = gost_engine
[gost_engine]
default_algorithms = ALL
[req]
distinguished_name = req_distinguished_name
[req_distinguished_name]
"""


@dataclass(frozen=True)
class OpenSsl:
    """One ``openssl`` executable, always run with the GOST engine enabled."""

    path: str = "openssl"

    @contextmanager
    def workdir(self) -> Iterator[Path]:
        """A private temporary directory (mode 0700) holding ``openssl.cnf``; removed afterwards."""
        with tempfile.TemporaryDirectory(prefix="bridge-signing-") as name:
            directory = Path(name)
            (directory / "openssl.cnf").write_text(_CONFIG, encoding="ascii")
            yield directory

    def run(
        self,
        workdir: Path,
        args: Sequence[str],
        *,
        what: str,
        stdin: bytes | None = None,
        password: str | None = None,
    ) -> bytes:
        """Run ``openssl <args>``; with a password, ``-passin env:…`` is added and the password never hits argv."""
        argv = [self.path, *args]
        env = {"OPENSSL_CONF": str(workdir / "openssl.cnf")}
        secrets: list[str] = []
        if password is not None:
            argv += ["-passin", f"env:{PASSIN_VARIABLE}"]
            env[PASSIN_VARIABLE] = password
            secrets.append(password)
        return run_tool(argv, what=what, stdin=stdin, env=env, secrets=secrets, cwd=workdir)


def check_gost_engine(openssl_path: str = "openssl") -> None:
    """Raise :class:`SigningError` (with the install command) unless ``openssl`` can hash with the GOST engine."""
    openssl = OpenSsl(openssl_path)
    with openssl.workdir() as workdir:
        try:
            openssl.run(workdir, ["dgst", "-md_gost12_256"], what="openssl dgst -md_gost12_256", stdin=b"")
        except SigningError as exc:
            raise SigningError(f"the OpenSSL GOST engine is not available ({exc}); install it: {APT_HINT}") from None


def generate_test_key(
    paramset: str = "A",
    *,
    subject: str = "/CN=MIS Bridge test/C=RU",
    days: int = 365,
    openssl_path: str = "openssl",
) -> tuple[bytes, bytes]:
    """Make a GOST R 34.10-2012 (256) key and a self-signed certificate for tests and the ЕСИА test contour.

    Returns ``(unencrypted PKCS#8 PEM private key, certificate PEM)``. ``paramset`` is OpenSSL's name:
    A, B, C, XA, XB or TCA. Production keys come from an accredited CA, not from here.
    """
    if paramset not in PARAMSETS:
        raise SigningError(f"unknown paramset {paramset!r}; one of {', '.join(PARAMSETS)}")
    if days < 1:
        raise SigningError("days must be at least 1")
    check_gost_engine(openssl_path)
    openssl = OpenSsl(openssl_path)
    with openssl.workdir() as workdir:
        key = openssl.run(
            workdir,
            ["genpkey", "-algorithm", "gost2012_256", "-pkeyopt", f"paramset:{paramset}"],
            what="openssl genpkey",
        )
        (workdir / "key.pem").write_bytes(key)
        certificate = openssl.run(
            workdir,
            ["req", "-x509", "-new", "-key", "key.pem", "-subj", subject, "-days", str(days), "-md_gost12_256"],
            what="openssl req -x509",
        )
    return key, certificate
