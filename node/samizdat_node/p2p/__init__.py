"""The node's libp2p host layer (design.md §4, §6; docs/decisions/0002-libp2p-compat.md).

- :mod:`.identity`: the persisted Ed25519 identity (stable peer id across restarts).
- :mod:`.host`: :func:`open_host` (TCP + Noise + Yamux, one connection per peer, always
  closed), :func:`connect` / :func:`open_stream` with deadlines and peer-down handling.
- :mod:`.serve`: :func:`serve_protocol`, a guarded, capped stream handler.
- :mod:`.framing`: length-prefixed frames with size limits and deadlines.
- :mod:`.backoff`: per-peer redial backoff (clock passed in).
- :mod:`.compat`: pinned patches for py-libp2p 0.8.1 defects, applied by :func:`open_host`.
"""

from .backoff import BackoffPolicy, PeerBackoff
from .compat import CompatError
from .framing import (
    DEFAULT_MAX_FRAME_SIZE,
    FrameDecoder,
    FrameEOF,
    FrameError,
    FrameStreamError,
    FrameTimeout,
    FrameTooLarge,
    FrameTruncated,
    iter_frames,
    read_frame,
    write_frame,
)
from .host import ListenError, PeerUnavailable, connect, disconnect, open_host, open_stream
from .identity import Identity, IdentityError, load_or_create_identity
from .serve import ServeStats, closing_stream, serve_protocol

__all__ = [
    "DEFAULT_MAX_FRAME_SIZE",
    "BackoffPolicy",
    "CompatError",
    "FrameDecoder",
    "FrameEOF",
    "FrameError",
    "FrameStreamError",
    "FrameTimeout",
    "FrameTooLarge",
    "FrameTruncated",
    "Identity",
    "IdentityError",
    "ListenError",
    "PeerBackoff",
    "PeerUnavailable",
    "ServeStats",
    "closing_stream",
    "connect",
    "disconnect",
    "iter_frames",
    "load_or_create_identity",
    "open_host",
    "open_stream",
    "read_frame",
    "serve_protocol",
    "write_frame",
]
