"""СМЭВ 3 in the core: ЭП-ОВ signing and checking (this layer), message-exchange envelopes and client.

Layers, as zeep keeps transports, wsdl and wsse apart:

* ``_transform`` — the СМЭВ transform ``urn://smev-gov-ru/xmldsig/transform``;
* ``_c14n`` — exclusive XML canonicalisation of one element;
* ``_xmldsig`` — the detached GOST R 34.10-2012 (256) XMLDSig profile: :func:`sign_detached`,
  :func:`verify_detached`;
* ``_versions``, ``_ids`` — the schema version's namespaces; MessageID as an RFC 4122 version-1 UUID;
* ``_envelopes`` — the signed SOAP 1.1 envelopes of SendRequest, GetResponse, Ack;
* ``_answers``, ``_faults`` — reading what СМЭВ answers, every fault classified with its reaction
  (the exceptions are in ``bridge.errors``);
* ``_client`` — :class:`SmevClient`, every call through ``bridge.delivery.Upstream``;
* ``_journal``, ``_exchange``, ``_runner`` — the exchange journal in the store, :class:`SmevExchange` (a
  synchronous press over the asynchronous exchange, deduplicated by business key across instances) and
  :class:`ResponseRunner` (GetResponse per kind under a lease; store, then Ack).

The raw signatures come from ``bridge.signing`` signers. See docs/smev.md.
"""

from bridge.smev._answers import AnswerRefused, ReceivedResponse, SentRequest
from bridge.smev._c14n import EXCLUSIVE_C14N, canonicalize
from bridge.smev._client import SmevClient, SmevSettings
from bridge.smev._envelopes import Envelope
from bridge.smev._exchange import (
    ExchangeSettings,
    KindOfInformation,
    SmevAnswer,
    SmevAnswerPending,
    SmevExchange,
    SmevExchangeFailed,
)
from bridge.smev._faults import KNOWN_FAULTS
from bridge.smev._ids import message_id_time, new_message_id
from bridge.smev._journal import ExchangeRecord, ExchangeStats, Journal
from bridge.smev._runner import ResponseRunner
from bridge.smev._settings import SmevNodeSettings, SmevSignerSettings
from bridge.smev._transform import ALGORITHM as SMEV_TRANSFORM
from bridge.smev._transform import SmevTransformError, smev_transform
from bridge.smev._versions import SchemaVersion, namespaces
from bridge.smev._wiring import open_exchange
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
    "KNOWN_FAULTS",
    "SIGNATURE_GOST2012_256",
    "SMEV_TRANSFORM",
    "AnswerRefused",
    "Envelope",
    "ExchangeRecord",
    "ExchangeSettings",
    "ExchangeStats",
    "Journal",
    "KindOfInformation",
    "ReceivedResponse",
    "ResponseRunner",
    "SchemaVersion",
    "SentRequest",
    "SmevAnswer",
    "SmevAnswerPending",
    "SmevClient",
    "SmevExchange",
    "SmevExchangeFailed",
    "SmevNodeSettings",
    "SmevSettings",
    "SmevSignerSettings",
    "SmevTransformError",
    "VerifiedSignature",
    "XmlSignatureError",
    "canonicalize",
    "message_id_time",
    "namespaces",
    "new_message_id",
    "open_exchange",
    "reference_digest",
    "sign_detached",
    "smev_transform",
    "verify_detached",
]
