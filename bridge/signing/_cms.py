"""Detached CMS SignedData with GOST R 34.10-2012 (256), built and checked with asn1crypto (esia.md §6.4).

asn1crypto has no GOST OIDs; it takes them as dotted strings. The signature value inside CMS is
OpenSSL's raw layout, ``s || r`` — the same bytes :meth:`Signer.sign_raw` returns.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from asn1crypto import algos, cms, core, x509  # type: ignore[import-untyped]

from bridge.signing._asn1 import GOST2012_256, GOST3411_2012_256, SIGN_WITH_DIGEST_2012_256
from bridge.signing._certs import certificate_public_key, parse_certificate
from bridge.signing._errors import SigningError
from bridge.signing._gost import streebog256, verify_digest

__all__ = ["build_detached", "verify_cms_detached"]

_SIGNATURE_ALGORITHMS = frozenset({GOST2012_256, SIGN_WITH_DIGEST_2012_256})


def _signed_attributes(data: bytes, signing_time: datetime) -> cms.CMSAttributes:
    # Listed in DER SET OF order (by encoding): contentType, signingTime, messageDigest.
    return cms.CMSAttributes(
        [
            cms.CMSAttribute({"type": "content_type", "values": ["data"]}),
            cms.CMSAttribute({"type": "signing_time", "values": [cms.Time({"utc_time": signing_time})]}),
            cms.CMSAttribute({"type": "message_digest", "values": [streebog256(data)]}),
        ]
    )


def build_detached(
    certificate_der: bytes,
    data: bytes,
    sign: Callable[[bytes], bytes],
    *,
    signed_attributes: bool = False,
    signing_time: datetime | None = None,
) -> bytes:
    """Build a DER detached CMS SignedData over ``data`` carrying the certificate.

    ``sign`` hashes its argument with Streebog-256 and returns the ``s || r`` signature (a
    ``sign_raw``). Without signed attributes (``openssl cms -noattr``) the signature covers ``data``;
    with them (CAdES-BES as CryptoPro makes it) it covers the DER SET of attributes.
    """
    certificate = parse_certificate(certificate_der)
    tbs = certificate["tbs_certificate"]
    signer_info: dict[str, object] = {
        "version": "v1",
        "sid": cms.SignerIdentifier(
            {
                "issuer_and_serial_number": cms.IssuerAndSerialNumber(
                    {"issuer": tbs["issuer"], "serial_number": tbs["serial_number"]}
                )
            }
        ),
        "digest_algorithm": algos.DigestAlgorithm({"algorithm": GOST3411_2012_256}),
        "signature_algorithm": algos.SignedDigestAlgorithm({"algorithm": GOST2012_256}),
    }
    if signed_attributes:
        attributes = _signed_attributes(data, signing_time or datetime.now(UTC).replace(microsecond=0))
        signer_info["signed_attrs"] = attributes
        signer_info["signature"] = sign(attributes.dump())
    else:
        signer_info["signature"] = sign(data)
    signed_data = cms.SignedData(
        {
            "version": "v1",
            "digest_algorithms": [algos.DigestAlgorithm({"algorithm": GOST3411_2012_256})],
            "encap_content_info": {"content_type": "data"},
            "certificates": [cms.CertificateChoices({"certificate": certificate})],
            "signer_infos": [cms.SignerInfo(signer_info)],
        }
    )
    return bytes(cms.ContentInfo({"content_type": "signed_data", "content": signed_data}).dump())


def _signer_certificate(signed_data: cms.SignedData, signer_info: cms.SignerInfo) -> bytes | None:
    certificates = [
        choice.chosen for choice in signed_data["certificates"] if isinstance(choice.chosen, x509.Certificate)
    ]
    sid = signer_info["sid"]
    for certificate in certificates:
        if sid.name == "issuer_and_serial_number":
            wanted = sid.chosen
            if certificate.issuer == wanted["issuer"] and certificate.serial_number == wanted["serial_number"].native:
                return bytes(certificate.dump())
        elif certificate.key_identifier == sid.chosen.native:
            return bytes(certificate.dump())
    return None


def _attribute(attributes: cms.CMSAttributes, name: str) -> object:
    values = [attribute["values"] for attribute in attributes if attribute["type"].native == name]
    if len(values) != 1 or len(values[0]) != 1:
        return None
    return values[0][0].native


def _verify_signer(signed_data: cms.SignedData, signer_info: cms.SignerInfo, data: bytes) -> bool:
    if signer_info["digest_algorithm"]["algorithm"].dotted != GOST3411_2012_256:
        return False
    if signer_info["signature_algorithm"]["algorithm"].dotted not in _SIGNATURE_ALGORITHMS:
        return False
    certificate_der = _signer_certificate(signed_data, signer_info)
    if certificate_der is None:
        return False
    key = certificate_public_key(certificate_der)
    attributes = signer_info["signed_attrs"]
    if isinstance(attributes, core.Void):
        signed = data
    else:
        if _attribute(attributes, "message_digest") != streebog256(data):
            return False
        if _attribute(attributes, "content_type") != "data":
            return False
        # The signature covers the attributes as a SET (tag 0x31), not as the [0] IMPLICIT field they travel in.
        encoded = bytes(attributes.dump())
        signed = b"\x31" + encoded[1:]
    signature = bytes(signer_info["signature"].native)
    return verify_digest(key.curve_oid, (key.x, key.y), streebog256(signed), signature)


def verify_cms_detached(cms_der: bytes, data: bytes) -> bool:
    """Check a detached CMS SignedData over ``data`` with the certificate it carries. Pure Python.

    True when every SignerInfo has a GOST R 34.11/34.10-2012 (256) signature that verifies with its
    embedded certificate (and, with signed attributes, a matching message digest). The certificate's
    chain and validity are *not* checked (like ``openssl cms -verify -noverify``). Malformed input → False.
    """
    try:
        content_info = cms.ContentInfo.load(cms_der, strict=True)
        if content_info["content_type"].native != "signed_data":
            return False
        signed_data = content_info["content"]
        content = signed_data["encap_content_info"]["content"]
        if not isinstance(content, core.Void) and content.native != data:
            return False
        signer_infos = list(signed_data["signer_infos"])
        return bool(signer_infos) and all(_verify_signer(signed_data, si, data) for si in signer_infos)
    except (ValueError, TypeError, KeyError, SigningError):
        return False
