"""A sandbox СМЭВ 3 node (message-exchange over SOAP 1.1) that checks what a real one checks.

:class:`SandboxNode` holds the rules and queues; :func:`create_smev_sandbox_app` is its HTTP face;
the kinds of information behind it are :class:`Provider` s that peers' sandboxes plug in
(:meth:`SandboxNode.serve`, with the kind's schema); :class:`SmevFaultPlan` adds the node's own
faults (SMEVFailure, DestinationOverflow) to the network ones every sandbox takes, and aims them at
some operations (SendRequest, GetResponse, Ack) only.
"""

from bridge.smev.sandbox._app import create_smev_sandbox_app
from bridge.smev.sandbox._faults import OPERATIONS, SMEV_FAULT_KINDS, SmevFaultPlan
from bridge.smev.sandbox._node import (
           DEFECTS,
           NodeFault,
           Provider,
           ProviderAnswer,
           QueuedResponse,
           SandboxNode,
           SentRecord,
)

__all__ = ["DEFECTS", "OPERATIONS", "SMEV_FAULT_KINDS", "NodeFault", "Provider", "ProviderAnswer", "QueuedResponse",
           "SandboxNode", "SentRecord", "SmevFaultPlan", "create_smev_sandbox_app"]
