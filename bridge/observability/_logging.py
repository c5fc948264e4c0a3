"""structlog set-up: JSON lines on stderr, masked, with the request id of the call."""

from __future__ import annotations

import logging
import sys
import weakref
from typing import Any, TextIO

import structlog

from bridge.observability._masking import mask_personal_data

# Libraries that log request bodies or raw input: spyne logs the faulty XML itself,
# httpx/httpcore log URLs and headers. They are silenced; the bridge logs what it needs.
_QUIET_LOGGERS = ("spyne", "httpx", "httpcore", "zeep", "uvicorn.access", "a2wsgi", "sqlalchemy.engine")


def configure_logging(level: str = "INFO", stream: TextIO | None = None, json: bool = True) -> None:
    """Configure structlog and the standard library to write masked JSON lines."""
    out = stream or sys.stderr
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.format_exc_info,
        mask_personal_data,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: Any = structlog.processors.JSONRenderer(ensure_ascii=False) if json else (
        structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        # Drops events below the level before any processor runs (masking, timestamps).
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
    )
    handler = logging.StreamHandler(out)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for name in _QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.CRITICAL + 1)
    for name in ("uvicorn", "uvicorn.error"):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    for proxy in list(_handed_out):
        # A logger used before caches what the configuration was then (its level, its processors)
        # in an instance attribute; dropping it makes the next use assemble it from this one.
        vars(proxy).pop("bind", None)


#: Every logger get_logger handed out (module-level ones live as long as their module).
_handed_out: weakref.WeakSet[Any] = weakref.WeakSet()


def get_logger(name: str) -> Any:
    """A structlog logger (filtering by level once configure_logging has run; configuring again
    applies to loggers already in use too)."""
    logger = structlog.get_logger(name)
    _handed_out.add(logger)
    return logger
