"""ЕГИСЗ «Прикрепление онлайн» (seed 002): intake, search, card and replies for the МИС.

- ``_service``: the SOAP face (wsdl/egisz-attachments.wsdl); ``_facade``: what every face does;
- ``_applications``: the store of applications; ``_intake``: the scheduled intake;
- ``_replies``: the reply rules and their delivery through the outbox;
- ``_client``: the adapter boundary (``AttachmentUpstream``) and its REST transport (docs/egisz-upstream.md);
- ``sandbox``: the sandbox ЕГИСЗ.
"""

from adapters.egisz._adapter import EgiszAdapter, adapter

__all__ = ["EgiszAdapter", "adapter"]
