"""ЭП-ОВ / ЭП-СМЭВ: the detached XMLDSig profile of СМЭВ 3 with GOST R 34.10-2012 (256).

The profile (egisz.md §3.3, and every signature in recorded СМЭВ messages)::

    <ds:Signature>
      <ds:SignedInfo>
        <ds:CanonicalizationMethod Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/>
        <ds:SignatureMethod Algorithm="urn:ietf:params:xml:ns:cpxmlsec:algorithms:gostr34102012-gostr34112012-256"/>
        <ds:Reference URI="#<Id of the signed element>">
          <ds:Transforms>
            <ds:Transform Algorithm="http://www.w3.org/2001/10/xml-exc-c14n#"/>
            <ds:Transform Algorithm="urn://smev-gov-ru/xmldsig/transform"/>
          </ds:Transforms>
          <ds:DigestMethod Algorithm="urn:ietf:params:xml:ns:cpxmlsec:algorithms:gostr34112012-256"/>
          <ds:DigestValue>base64(Streebog-256 of the transformed octets)</ds:DigestValue>
        </ds:Reference>
      </ds:SignedInfo>
      <ds:SignatureValue>base64(s || r over the exc-c14n of SignedInfo)</ds:SignatureValue>
      <ds:KeyInfo><ds:X509Data><ds:X509Certificate>base64(DER)</ds:X509Certificate></ds:X509Data></ds:KeyInfo>
    </ds:Signature>

The digest is in the byte order ``openssl dgst -md_gost12_256`` prints; the signature value is the
raw signature in OpenSSL's layout ``s || r`` (what ``bridge.signing`` signers return; CryptoPro's
``csptest`` bytes reversed). Both are proven against a signature СМЭВ itself made
(tests/unit/test_smev_signature.py).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Collection
from dataclasses import dataclass
from datetime import datetime

from asn1crypto import x509  # type: ignore[import-untyped]
from lxml import etree

from bridge.signing import Signer, SigningError, streebog256, verify_raw
from bridge.smev._c14n import EXCLUSIVE_C14N, INCLUSIVE_C14N, canonicalize
from bridge.smev._transform import ALGORITHM as SMEV_TRANSFORM
from bridge.smev._transform import SmevTransformError, smev_transform

__all__ = [
    "DIGEST_GOST2012_256",
    "DS",
    "ENVELOPED_SIGNATURE",
    "SIGNATURE_GOST2012_256",
    "SignatureProblem",
    "VerifiedSignature",
    "XmlSignatureError",
    "reference_digest",
    "sign_detached",
    "verify_detached",
]

DS = "http://www.w3.org/2000/09/xmldsig#"
SIGNATURE_GOST2012_256 = "urn:ietf:params:xml:ns:cpxmlsec:algorithms:gostr34102012-gostr34112012-256"
DIGEST_GOST2012_256 = "urn:ietf:params:xml:ns:cpxmlsec:algorithms:gostr34112012-256"
ENVELOPED_SIGNATURE = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
_EXC_NS = "http://www.w3.org/2001/10/xml-exc-c14n#"

SignatureProblem = str
"""A short, stable reason (a metric label value): ``missing``, ``malformed``, ``unsupported-algorithm``,
``reference``, ``digest-mismatch``, ``signature-mismatch``, ``untrusted-certificate``,
``certificate-expired``, ``certificate-not-yet-valid``."""


class XmlSignatureError(Exception):
    """A signature that is absent, malformed, not the СМЭВ profile, wrong, or by a key we do not trust.

    ``problem`` is one of :data:`SignatureProblem`'s values; the message names elements and
    algorithms, never content.
    """

    def __init__(self, problem: SignatureProblem, message: str) -> None:
        super().__init__(message)
        self.problem = problem


@dataclass(frozen=True)
class VerifiedSignature:
    signed_element: etree._Element
    certificate_der: bytes


def _q(name: str) -> str:
    return f"{{{DS}}}{name}"


def _sub(parent: etree._Element, name: str, **attributes: str) -> etree._Element:
    return etree.SubElement(parent, _q(name), attributes)


def reference_digest(element: etree._Element) -> bytes:
    """Streebog-256 of the element after exc-c14n and the СМЭВ transform: the raw DigestValue."""
    return streebog256(smev_transform(canonicalize(element)))


def sign_detached(element: etree._Element, signer: Signer) -> etree._Element:
    """A ``ds:Signature`` over ``element`` (which must carry ``Id``), to be put where the schema wants it.

    The signature does not depend on where it is put: exclusive c14n of ``SignedInfo`` renders only
    the ``ds`` namespace.
    """
    target_id = element.get("Id")
    if not target_id:
        raise ValueError(f"{etree.QName(element).localname} has no Id attribute to reference")
    signature = etree.Element(_q("Signature"), nsmap={"ds": DS})
    signed_info = _sub(signature, "SignedInfo")
    _sub(signed_info, "CanonicalizationMethod", Algorithm=EXCLUSIVE_C14N)
    _sub(signed_info, "SignatureMethod", Algorithm=SIGNATURE_GOST2012_256)
    reference = _sub(signed_info, "Reference", URI=f"#{target_id}")
    transforms = _sub(reference, "Transforms")
    _sub(transforms, "Transform", Algorithm=EXCLUSIVE_C14N)
    _sub(transforms, "Transform", Algorithm=SMEV_TRANSFORM)
    _sub(reference, "DigestMethod", Algorithm=DIGEST_GOST2012_256)
    _sub(reference, "DigestValue").text = base64.b64encode(reference_digest(element)).decode("ascii")
    value = signer.sign_raw(canonicalize(signed_info))
    _sub(signature, "SignatureValue").text = base64.b64encode(value).decode("ascii")
    x509_data = _sub(_sub(signature, "KeyInfo"), "X509Data")
    _sub(x509_data, "X509Certificate").text = base64.b64encode(signer.certificate_der).decode("ascii")
    return signature


def _one(parent: etree._Element, name: str) -> etree._Element:
    found = parent.findall(_q(name))
    if len(found) != 1:
        raise XmlSignatureError("malformed", f"ds:{etree.QName(parent).localname} must hold one ds:{name}")
    return found[0]


def _base64(element: etree._Element, what: str) -> bytes:
    text = "".join((element.text or "").split())
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise XmlSignatureError("malformed", f"ds:{what} is not base64") from None


def _referenced(signature: etree._Element, uri: str) -> etree._Element:
    if not uri.startswith("#") or len(uri) < 2:
        raise XmlSignatureError("reference", "ds:Reference URI must be a same-document #Id")
    found = signature.getroottree().getroot().xpath("//*[@Id=$id]", id=uri[1:])
    if not isinstance(found, list) or len(found) != 1:
        # Zero: nothing is signed; more than one: a wrapping attack or a broken message.
        raise XmlSignatureError("reference", f"ds:Reference URI must name exactly one element (found "
                                             f"{len(found) if isinstance(found, list) else 0})")
    element = found[0]
    assert isinstance(element, etree._Element)
    return element


def _transformed(element: etree._Element, signature: etree._Element, transforms: list[etree._Element]) -> bytes:
    node: etree._Element = element
    octets: bytes | None = None
    for transform in transforms:
        algorithm = transform.get("Algorithm", "")
        if algorithm == ENVELOPED_SIGNATURE and octets is None:
            if any(ancestor is node for ancestor in signature.iterancestors()):
                node = _without(node, signature)
        elif algorithm in (EXCLUSIVE_C14N, INCLUSIVE_C14N) and octets is None:
            prefixes = []
            for inclusive in transform.findall(f"{{{_EXC_NS}}}InclusiveNamespaces"):
                prefixes.extend((inclusive.get("PrefixList") or "").split())
            octets = canonicalize(node, exclusive=algorithm == EXCLUSIVE_C14N, inclusive_prefixes=prefixes)
        elif algorithm == SMEV_TRANSFORM and octets is not None:
            try:
                octets = smev_transform(octets)
            except SmevTransformError as exc:
                raise XmlSignatureError("malformed", str(exc)) from None
        else:
            raise XmlSignatureError("unsupported-algorithm", f"transform {algorithm!r} is not supported here "
                                                             "or not in this order")
    return octets if octets is not None else canonicalize(node, exclusive=False)


def _without(node: etree._Element, signature: etree._Element) -> etree._Element:
    """A copy of ``node`` without ``signature`` (the enveloped-signature transform), in the same context."""
    parent = signature.getparent()
    assert parent is not None
    index = parent.index(signature)
    parent.remove(signature)
    try:
        return _copy_in_place(node)
    finally:
        parent.insert(index, signature)


def _copy_in_place(node: etree._Element) -> etree._Element:
    # c14n must see the copy with the same in-scope namespaces: serialise now, while still in place.
    octets = canonicalize(node, exclusive=False)
    return etree.fromstring(octets, etree.XMLParser(resolve_entities=False, no_network=True))


def _check_validity(certificate_der: bytes, now: datetime) -> None:
    try:
        validity = x509.Certificate.load(certificate_der)["tbs_certificate"]["validity"]
        not_before, not_after = validity["not_before"].native, validity["not_after"].native
    except (ValueError, TypeError, KeyError):
        raise XmlSignatureError("malformed", "ds:X509Certificate is not an X.509 certificate") from None
    if now < not_before:
        raise XmlSignatureError("certificate-not-yet-valid", "the signing certificate is not valid yet")
    if now > not_after:
        raise XmlSignatureError("certificate-expired", "the signing certificate has expired")


def verify_detached(
    signature: etree._Element,
    *,
    trusted: Collection[bytes] | Callable[[bytes], bool] | None,
    now: datetime | None = None,
) -> VerifiedSignature:
    """Check a ``ds:Signature`` of the СМЭВ profile; return the element it covers and the certificate.

    ``trusted``: the DER certificates whose signatures are accepted (or a predicate); ``None`` accepts
    any certificate (only for checking our own output). ``now``: when given, the certificate must be
    valid then. The caller must check that ``signed_element`` is the element it expects to be signed.
    """
    if etree.QName(signature).text != _q("Signature"):
        raise XmlSignatureError("missing", "no ds:Signature")
    signed_info = _one(signature, "SignedInfo")
    c14n_method = _one(signed_info, "CanonicalizationMethod").get("Algorithm")
    if c14n_method not in (EXCLUSIVE_C14N, INCLUSIVE_C14N):
        raise XmlSignatureError("unsupported-algorithm", f"CanonicalizationMethod {c14n_method!r}")
    signature_method = _one(signed_info, "SignatureMethod").get("Algorithm")
    if signature_method != SIGNATURE_GOST2012_256:
        raise XmlSignatureError("unsupported-algorithm", f"SignatureMethod {signature_method!r}")
    reference = _one(signed_info, "Reference")
    digest_method = _one(reference, "DigestMethod").get("Algorithm")
    if digest_method != DIGEST_GOST2012_256:
        raise XmlSignatureError("unsupported-algorithm", f"DigestMethod {digest_method!r}")
    element = _referenced(signature, reference.get("URI", ""))
    transforms_parent = reference.find(_q("Transforms"))
    transforms = [] if transforms_parent is None else transforms_parent.findall(_q("Transform"))
    expected = _base64(_one(reference, "DigestValue"), "DigestValue")
    if streebog256(_transformed(element, signature, transforms)) != expected:
        raise XmlSignatureError("digest-mismatch", f"the digest of #{element.get('Id')} does not match: "
                                                   "the signed content was changed or transformed differently")
    x509_data = _one(_one(signature, "KeyInfo"), "X509Data")
    certificate_der = _base64(_one(x509_data, "X509Certificate"), "X509Certificate")
    if trusted is not None:
        known = trusted(certificate_der) if callable(trusted) else certificate_der in trusted
        if not known:
            raise XmlSignatureError("untrusted-certificate", "the signing certificate is not among the trusted ones")
    if now is not None:
        _check_validity(certificate_der, now)
    value = _base64(_one(signature, "SignatureValue"), "SignatureValue")
    signed_octets = canonicalize(signed_info, exclusive=c14n_method == EXCLUSIVE_C14N)
    try:
        valid = verify_raw(certificate_der, signed_octets, value)
    except SigningError:
        raise XmlSignatureError("unsupported-algorithm", "the certificate has no GOST R 34.10-2012 (256) key") from None
    if not valid:
        raise XmlSignatureError("signature-mismatch", "ds:SignatureValue does not verify with the certificate")
    return VerifiedSignature(signed_element=element, certificate_der=certificate_der)
