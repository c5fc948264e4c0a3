"""``bridge keys ...`` commands (the lead mounts :data:`app` under the main CLI)."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from bridge.signing._certs import certificate_hash, certificate_not_after, certificate_subject, load_certificate
from bridge.signing._errors import SigningError
from bridge.signing._opensslcli import PARAMSETS, generate_test_key

__all__ = ["app"]

app = typer.Typer(
    help="GOST keys and certificates: test keys, certificate hash (ЕСИА's client_certificate_hash), expiry.",
    no_args_is_help=True,
    add_completion=False,
)


@app.callback()
def _group() -> None:
    """GOST keys and certificates: test keys, certificate hash (ЕСИА's client_certificate_hash), expiry."""


def _fail(exc: SigningError) -> typer.Exit:
    typer.echo(f"error: {exc}", err=True)
    return typer.Exit(code=1)


def _write(path: Path, content: bytes, mode: int) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(descriptor, "wb") as file:
        file.write(content)
    os.chmod(path, mode)


@app.command("generate")
def generate_command(
    out_key: Annotated[Path, typer.Option("--out-key", help="Where to write the PKCS#8 PEM private key (mode 0600).")],
    out_cert: Annotated[Path, typer.Option("--out-cert", help="Where to write the self-signed certificate (PEM).")],
    paramset: Annotated[str, typer.Option(help=f"OpenSSL GOST parameter set: {', '.join(PARAMSETS)}.")] = "A",
    subject: Annotated[str, typer.Option(help="Certificate subject, OpenSSL form.")] = "/CN=MIS Bridge test/C=RU",
    days: Annotated[int, typer.Option(help="Validity in days.")] = 365,
    force: Annotated[bool, typer.Option("--force", help="Overwrite existing files.")] = False,
) -> None:
    """Make a GOST R 34.10-2012 (256) test key and self-signed certificate (openssl + gost engine).

    For tests and the ЕСИА test contour; production certificates come from an accredited CA.
    """
    for path in (out_key, out_cert):
        if path.exists() and not force:
            typer.echo(f"error: {path} exists (use --force to overwrite)", err=True)
            raise typer.Exit(code=1)
    try:
        key, certificate = generate_test_key(paramset, subject=subject, days=days)
    except SigningError as exc:
        raise _fail(exc) from None
    _write(out_key, key, 0o600)
    _write(out_cert, certificate, 0o644)
    der = load_certificate(out_cert)
    typer.echo(f"key:  {out_key}")
    typer.echo(f"cert: {out_cert}")
    typer.echo(f"client_certificate_hash: {certificate_hash(der)}")


@app.command("hash")
def hash_command(
    certificate: Annotated[Path, typer.Argument(help="Certificate file, PEM or DER.")],
) -> None:
    """Print the ЕСИА client_certificate_hash (Streebog-256 of the DER certificate, uppercase hex)."""
    try:
        der = load_certificate(certificate)
    except SigningError as exc:
        raise _fail(exc) from None
    typer.echo(certificate_hash(der))


@app.command("show")
def show_command(
    certificate: Annotated[Path, typer.Argument(help="Certificate file, PEM or DER.")],
) -> None:
    """Print the certificate's subject, not-after, days left and client_certificate_hash."""
    try:
        der = load_certificate(certificate)
        subject = certificate_subject(der)
        not_after = certificate_not_after(der)
    except SigningError as exc:
        raise _fail(exc) from None
    days_left = (not_after - datetime.now(UTC)).total_seconds() / 86400
    typer.echo(f"subject:   {subject}")
    typer.echo(f"not after: {not_after.isoformat()}")
    typer.echo(f"days left: {int(days_left)}" + (" (EXPIRED)" if days_left < 0 else ""))
    typer.echo(f"hash:      {certificate_hash(der)}")
