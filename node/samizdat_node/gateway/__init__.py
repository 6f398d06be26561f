"""The web gateway and JSON API (design §6-7): read-only, two languages, no external assets.

- :mod:`.serve`: :func:`serve_gateway`, hypercorn's trio worker bound to ``HOST:PORT``.
- :mod:`.app`: :class:`GatewayApp`, the ASGI application (routing, limits, errors).
- :mod:`.http`: request parsing under limits, security headers, error statuses.
- :mod:`.ratelimit`: per-client token buckets in a bounded table.
- :mod:`.site`, :mod:`.document`, :mod:`.api`, :mod:`.pages`: reads, JSON documents, handlers.
- :mod:`.present`, :mod:`.i18n`: how a record reads, in Russian and English.
- ``openapi.json``, ``templates/``, ``static/``: the API description, pages and stylesheet.
"""

from .app import GatewayApp
from .ratelimit import RateLimit, TokenBuckets
from .serve import parse_listen, serve_gateway
from .site import GatewaySettings

__all__ = [
    "GatewayApp",
    "GatewaySettings",
    "RateLimit",
    "TokenBuckets",
    "parse_listen",
    "serve_gateway",
]
