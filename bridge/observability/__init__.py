"""Logging (structlog, JSON, masked personal data) and request-scoped context."""

from bridge.observability._context import bind_request_id, current_request_id, new_request_id
from bridge.observability._logging import configure_logging, get_logger
from bridge.observability._masking import mask_personal_data, mask_text

__all__ = [
    "bind_request_id",
    "configure_logging",
    "current_request_id",
    "get_logger",
    "mask_personal_data",
    "mask_text",
    "new_request_id",
]
