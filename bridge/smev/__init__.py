"""СМЭВ 3 in the core: ЭП-ОВ signing and checking (this layer), message-exchange envelopes and client.

Layers, as zeep keeps transports, wsdl and wsse apart:

* ``_transform`` — the СМЭВ transform ``urn://smev-gov-ru/xmldsig/transform``;
* ``_c14n`` — exclusive XML canonicalisation of one element;
* ``_xmldsig`` — the detached GOST R 34.10-2012 (256) XMLDSig profile: :func:`sign_detached`,
  :func:`verify_detached`.

The raw signatures come from ``bridge.signing`` signers. See docs/smev.md.
"""

from bridge.smev._c14n import EXCLUSIVE_C14N, canonicalize
from bridge.smev._transform import ALGORITHM as SMEV_TRANSFORM
from bridge.smev._transform import SmevTransformError, smev_transform
from bridge.smev._xmldsig import (
    DIGEST_GOST2012_256,
    DS,
    SIGNATURE_GOST2012_256,
    VerifiedSignature,
    XmlSignatureError,
    reference_digest,
    sign_detached,
    verify_detached,
)

__all__ = [
    "DIGEST_GOST2012_256",
    "DS",
    "EXCLUSIVE_C14N",
    "SIGNATURE_GOST2012_256",
    "SMEV_TRANSFORM",
    "SmevTransformError",
    "VerifiedSignature",
    "XmlSignatureError",
    "canonicalize",
    "reference_digest",
    "sign_detached",
    "smev_transform",
    "verify_detached",
]
