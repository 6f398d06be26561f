"""Key files on disk: written atomically with mode 0600, read with a passphrase when sealed.

The byte format is :mod:`samizdat_protocol.signing`'s; this module adds the file handling and the
randomness (salt, nonce, seed) the pure package must not take for itself.
"""

from __future__ import annotations

import getpass
import os
import stat
from pathlib import Path

from samizdat_protocol.errors import KeyFileError, LocalError
from samizdat_protocol.signing import (
    SEED_SIZE,
    SigningKey,
    key_file_is_sealed,
    key_file_public,
    open_key,
    seal_key,
)

__all__ = ["load_key", "new_key", "read_public", "write_atomic", "write_key"]

PASSPHRASE_ENV = "SAMIZDAT_PASSPHRASE"


def write_atomic(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Write ``data`` to ``path`` so that a crash leaves either the old file or the new one."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def new_key() -> SigningKey:
    return SigningKey.from_seed(os.urandom(SEED_SIZE))


def write_key(path: Path, key: SigningKey, passphrase: bytes | None, *,
              overwrite: bool = False) -> None:
    """Write a key file (sealed with ``passphrase`` unless it is None), mode 0600."""
    path = Path(path)
    if path.exists() and not overwrite:
        raise LocalError("usage.exists", f"{path} already exists; refusing to overwrite a key")
    body = seal_key(key, passphrase, salt=os.urandom(16), nonce=os.urandom(24)) \
        if passphrase is not None else seal_key(key, None)
    write_atomic(path, body)


def _read(path: Path) -> bytes:
    try:
        info = path.stat()
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise KeyFileError("keyfile.missing", f"key file {path} does not exist") from exc
    except OSError as exc:
        raise KeyFileError("keyfile.unreadable", f"cannot read key file {path}: {exc}") from exc
    if info.st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise KeyFileError(
            "keyfile.permissions",
            f"key file {path} is readable by others (mode {stat.S_IMODE(info.st_mode):o}); "
            f"run: chmod 600 {path}",
        )
    return data


def read_public(path: Path) -> bytes:
    """The public key of a key file (no passphrase needed)."""
    return key_file_public(_read(Path(path)))


def load_key(path: Path, passphrase: bytes | None = None, *, prompt: bool = True) -> SigningKey:
    """Open a key file; a sealed one takes ``passphrase``, $SAMIZDAT_PASSPHRASE, or a prompt."""
    data = _read(Path(path))
    if key_file_is_sealed(data) and passphrase is None:
        env = os.environ.get(PASSPHRASE_ENV)
        if env is not None:
            passphrase = env.encode()
        elif prompt:
            passphrase = getpass.getpass(f"Passphrase for {path}: ").encode()
    return open_key(data, passphrase)
