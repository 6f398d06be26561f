"""Light clients (design §4.5; spec §14): read and verify records without a replica.

- :mod:`.messages`: the ``/samizdat/light/1`` messages, strict decoding with limits (sans-IO).
- :mod:`.verify`: checks an answer with nothing but the charter and recomputes the view (pure).
- :mod:`.evidence`: entries, payloads and inclusion proofs read from the replica store.
- :mod:`.server`: :func:`register_light_protocol` serves light clients on a libp2p host.
- :mod:`.client`: :func:`fetch_record` and :func:`remote_search` ask one peer and verify.
"""

from .client import (
    LightNotFound,
    LightPeerError,
    RemoteSearch,
    fetch_record,
    remote_search,
    remote_search_page,
)
from .messages import LIGHT_PROTOCOL, LightMessageError
from .server import register_light_protocol
from .verify import LightVerifyError, VerifiedHit, VerifiedRecord

__all__ = [
    "LIGHT_PROTOCOL",
    "LightMessageError",
    "LightNotFound",
    "LightPeerError",
    "LightVerifyError",
    "RemoteSearch",
    "VerifiedHit",
    "VerifiedRecord",
    "fetch_record",
    "register_light_protocol",
    "remote_search",
    "remote_search_page",
]
