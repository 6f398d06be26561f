"""The node's persisted libp2p identity: one Ed25519 key in the data directory.

The peer id is derived from the public key, so keeping the key keeps the peer id across
restarts (peers, bootstrap lists and DHT provider records name it). The node's libp2p key is
*not* a publisher key: it signs only libp2p handshakes (Noise static-key payloads) and peer
records, and it has its own file format so the two can never be swapped by accident.

File format (canonical msgpack map, :mod:`samizdat_protocol.encoding`)::

    {"format": "samizdat-p2p-identity/1", "type": "ed25519", "seed": bin32, "public": bin32}

``public`` is redundant on purpose: a flipped bit in ``seed`` is caught as a mismatch instead
of silently becoming another peer. The file is created atomically with mode 0600 (write a
temporary file, fsync, hard-link into place so an existing identity is never overwritten,
fsync the directory); a file readable by group or others is refused, as ssh refuses loose keys.
"""

from __future__ import annotations

import contextlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from samizdat_protocol.encoding import decode, encode
from samizdat_protocol.errors import KeyFileError, LocalError

__all__ = [
    "IDENTITY_FILENAME",
    "IDENTITY_FORMAT",
    "Identity",
    "IdentityError",
    "create_identity",
    "load_identity",
    "load_or_create_identity",
]

IDENTITY_FORMAT = "samizdat-p2p-identity/1"
IDENTITY_FILENAME = "p2p-identity.key"
_SEED_SIZE = 32
_MAX_FILE_SIZE = 4096  # a valid file is ~110 bytes; never read an arbitrarily large file


class IdentityError(KeyFileError):
    """The identity file is unusable (codes ``identity.*``); the message says why and where."""


@dataclass(frozen=True)
class Identity:
    """An Ed25519 libp2p identity: the 32-byte seed, its key pair and peer id."""

    seed: bytes
    public: bytes

    @classmethod
    def from_seed(cls, seed: bytes) -> Identity:
        if len(seed) != _SEED_SIZE:
            raise LocalError("identity.seed_size", f"an identity seed is {_SEED_SIZE} bytes")
        from libp2p.crypto.ed25519 import create_new_key_pair

        key_pair = create_new_key_pair(seed)
        return cls(seed=bytes(seed), public=key_pair.public_key.to_bytes())

    @classmethod
    def generate(cls) -> Identity:
        """A fresh identity from the OS CSPRNG (for tests and throwaway clients)."""
        return cls.from_seed(os.urandom(_SEED_SIZE))

    @property
    def key_pair(self) -> Any:
        """The ``libp2p.crypto.keys.KeyPair`` for ``new_host``."""
        from libp2p.crypto.ed25519 import create_new_key_pair

        return create_new_key_pair(self.seed)

    @property
    def peer_id(self) -> Any:
        """The ``libp2p.peer.id.ID`` derived from the public key."""
        from libp2p.peer.id import ID

        return ID.from_pubkey(self.key_pair.public_key)

    def encode(self) -> bytes:
        return encode(
            {"format": IDENTITY_FORMAT, "type": "ed25519", "seed": self.seed, "public": self.public}
        )

    def __repr__(self) -> str:  # never print the seed
        return f"Identity(peer_id={self.peer_id})"


def _malformed(path: Path, why: str) -> IdentityError:
    return IdentityError(
        "identity.malformed", f"identity file {path} is malformed: {why}", path=str(path)
    )


def _parse(path: Path, data: bytes) -> Identity:
    try:
        body = decode(data)
    except Exception as exc:
        raise _malformed(path, "not a canonical samizdat encoding") from exc
    if not isinstance(body, dict) or body.get("format") != IDENTITY_FORMAT:
        raise _malformed(path, f"not a {IDENTITY_FORMAT} file")
    if set(body) != {"format", "type", "seed", "public"} or body["type"] != "ed25519":
        raise _malformed(path, "unexpected fields or key type")
    seed, public = body["seed"], body["public"]
    if not (isinstance(seed, bytes) and len(seed) == _SEED_SIZE):
        raise _malformed(path, "'seed' must be 32 bytes")
    if not (isinstance(public, bytes) and len(public) == _SEED_SIZE):
        raise _malformed(path, "'public' must be 32 bytes")
    identity = Identity.from_seed(seed)
    if identity.public != public:
        raise IdentityError(
            "identity.mismatch",
            f"identity file {path} is damaged: its public key does not match its secret key",
            path=str(path),
        )
    return identity


def load_identity(path: Path) -> Identity:
    """Read an identity file; refuse loose permissions before reading the secret."""
    try:
        st = path.stat()
    except FileNotFoundError as exc:
        raise IdentityError(
            "identity.missing", f"no identity file at {path}", path=str(path)
        ) from exc
    if not stat.S_ISREG(st.st_mode):
        raise IdentityError(
            "identity.not_a_file", f"identity path {path} is not a regular file", path=str(path)
        )
    mode = stat.S_IMODE(st.st_mode)
    if mode & 0o077:
        raise IdentityError(
            "identity.permissions",
            f"identity file {path} has loose permissions {mode:04o} (group/other may access "
            f"the secret key); run `chmod 600 {path}`",
            path=str(path),
            mode=f"{mode:04o}",
        )
    if st.st_size > _MAX_FILE_SIZE:
        raise _malformed(path, f"{st.st_size} bytes is far too large")
    return _parse(path, path.read_bytes())


def create_identity(path: Path, identity: Identity | None = None) -> Identity:
    """Write a new identity file atomically (mode 0600); never overwrite an existing one."""
    identity = identity or Identity.generate()
    path.parent.mkdir(parents=True, exist_ok=True)
    # A random suffix: a temporary file left by a crash never blocks the next attempt.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        try:
            os.fchmod(fd, 0o600)  # the umask may only remove bits, but be explicit
            os.write(fd, identity.encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(tmp, path)  # atomic and, unlike rename, refuses to replace an existing key
        except FileExistsError as exc:
            raise IdentityError(
                "identity.exists", f"an identity file already exists at {path}", path=str(path)
            ) from exc
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)  # make the new directory entry durable
    finally:
        os.close(dir_fd)
    return identity


def load_or_create_identity(data_dir: Path, filename: str = IDENTITY_FILENAME) -> Identity:
    """The identity in ``data_dir``, created on first use."""
    path = data_dir / filename
    if not path.exists():
        try:
            return create_identity(path)
        except IdentityError as exc:
            if exc.code != "identity.exists":  # lost a race with another process: read theirs
                raise
    return load_identity(path)
