"""A node's data directory: what it holds, how it is created, how it is recognised.

Layout (docs/operators.md)::

    DIR/                      mode 0700
      config.toml             settings (config.py); its ``node.dataset`` marks DIR as a node
      p2p-identity.key        the libp2p identity (p2p/identity.py), mode 0600
      store.sqlite (+ -wal, -shm)   the replica store (store/)

Where DIR is, when ``--data`` is not given: ``$SAMIZDAT_DATA``, else
``$XDG_DATA_HOME/samizdat``, else ``~/.local/share/samizdat`` (XDG Base Directory spec).

:func:`init_node` writes ``config.toml`` first: a crash during init leaves a directory that is
recognisably a node of that dataset, and running init again with the same charter completes it
(identity and store are each created only if missing). A directory holding anything else is
never taken over.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from samizdat_protocol.charter import SignedCharter
from samizdat_protocol.encoding import decode
from samizdat_protocol.errors import DecodeError, LocalError

from .config import CONFIG_FILENAME, DEFAULTS, Config, load_config, read_config_file, render_toml
from .keystore import write_atomic
from .store import Store

__all__ = [
    "DATA_ENV",
    "IDENTITY_FILENAME",
    "STATUS_FILENAME",
    "DataDirError",
    "InitResult",
    "NodeDir",
    "default_data_dir",
    "init_node",
    "is_node_dir",
    "open_node_dir",
    "peer_id_of",
    "resolve_data_dir",
]

DATA_ENV = "SAMIZDAT_DATA"
# p2p.identity.IDENTITY_FILENAME, named here so that reading commands need not load libp2p
# (importing the p2p package costs 0.7 s); a test checks the two agree.
IDENTITY_FILENAME = "p2p-identity.key"
STATUS_FILENAME = "node-status.json"  # the running daemon's status (service.py rewrites it)
_HEADER = ("Samizdat node configuration, written by `samizdat init`.\n"
           "Environment variables SAMIZDAT_<SECTION>_<KEY> and command-line flags override it.")
# Files an interrupted init may have left (and nothing else): init may then continue.
_INIT_DEBRIS = ("config.toml", "p2p-identity.key", "store.sqlite", "store.sqlite-wal",
                "store.sqlite-shm", "store.sqlite-journal")


class DataDirError(LocalError):
    """The data directory is missing, not a node, or a node of another dataset
    (codes ``datadir.*``)."""


def default_data_dir(env: Mapping[str, str] | None = None) -> Path:
    env = os.environ if env is None else env
    if env.get(DATA_ENV):
        return Path(env[DATA_ENV]).expanduser()
    xdg = env.get("XDG_DATA_HOME")
    base = Path(xdg).expanduser() if xdg else Path(env.get("HOME", "~")).expanduser() \
        / ".local" / "share"
    return base / "samizdat"


def resolve_data_dir(given: str | Path | None, env: Mapping[str, str] | None = None) -> Path:
    return Path(given).expanduser() if given else default_data_dir(env)


@dataclass(frozen=True)
class NodeDir:
    """An existing node's directory with its effective configuration."""

    path: Path
    config: Config

    @property
    def dataset_hex(self) -> str:
        return self.config.text("node", "dataset")

    @property
    def store_path(self) -> Path:
        return self.path / self.config.text("node", "store")

    @property
    def identity_path(self) -> Path:
        return self.path / IDENTITY_FILENAME

    def open_store(self) -> Store:
        """Open the store and check it holds the dataset the config names."""
        if not self.store_path.exists():
            raise DataDirError("datadir.no_store", f"the node at {self.path} has no store "
                               f"({self.store_path.name}); an interrupted init? Run `samizdat "
                               "init` again with the same charter", path=str(self.path))
        store = Store.open(self.store_path)
        if store.dataset_id.hex() != self.dataset_hex:
            store.close()
            raise DataDirError("datadir.store_mismatch", f"{self.store_path} holds dataset "
                               f"{store.dataset_id.hex()[:16]}, but config.toml names "
                               f"{self.dataset_hex[:16]}", path=str(self.path))
        return store

    def peer_id(self) -> str:
        """The libp2p peer id of this node, from the public key in its identity file.

        Read without loading libp2p (0.7 s of imports) so that ``status`` stays quick; the
        daemon checks the whole file (seed against public key) when it starts.
        """
        try:
            with open(self.identity_path, "rb") as fh:
                body = decode(fh.read(4096))
        except OSError as exc:
            raise DataDirError("datadir.no_identity", f"cannot read the node's identity "
                               f"{self.identity_path}: {exc.strerror}") from exc
        except DecodeError as exc:
            raise DataDirError("datadir.bad_identity", f"{self.identity_path} is damaged: "
                               f"{exc.message}") from exc
        public = body.get("public") if isinstance(body, dict) else None
        if not isinstance(public, bytes) or len(public) != 32 or body.get("type") != "ed25519":
            raise DataDirError("datadir.bad_identity", f"{self.identity_path} holds no "
                               "Ed25519 public key")
        return peer_id_of(public)


_B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"


def peer_id_of(public: bytes) -> str:
    """The libp2p peer id of an Ed25519 public key (libp2p peer-ids spec).

    The protobuf ``PublicKey {Type: Ed25519 = 1, Data: key}`` is 36 bytes, short enough to be
    inlined as an identity multihash (code 0x00, length 0x24), then base58btc-encoded.
    """
    raw = b"\x00\x24\x08\x01\x12\x20" + public
    number = int.from_bytes(raw, "big")
    digits = []
    while number:
        number, rest = divmod(number, 58)
        digits.append(_B58[rest])
    leading = len(raw) - len(raw.lstrip(b"\x00"))
    return "1" * leading + "".join(reversed(digits))


def is_node_dir(path: Path) -> bool:
    return (path / CONFIG_FILENAME).is_file()


def open_node_dir(path: Path, env: Mapping[str, str] | None = None,
                  flags: Mapping[tuple[str, str], object] | None = None) -> NodeDir:
    """The node at ``path`` (its config with env and flag overrides), or a clear error."""
    if not path.exists():
        raise DataDirError("datadir.missing", f"no node at {path}: create one with `samizdat "
                           f"init --data {path} --charter CHARTER`", path=str(path))
    if not path.is_dir():
        raise DataDirError("datadir.not_a_directory", f"{path} is not a directory",
                           path=str(path))
    if not is_node_dir(path):
        raise DataDirError("datadir.not_a_node", f"{path} is not a samizdat node directory "
                           f"(no {CONFIG_FILENAME}); create one with `samizdat init`",
                           path=str(path))
    config = load_config(path / CONFIG_FILENAME, env, flags)
    dataset = config.text("node", "dataset")
    if len(dataset) != 64 or any(ch not in "0123456789abcdef" for ch in dataset):
        raise DataDirError("datadir.bad_config", f"{path / CONFIG_FILENAME}: node.dataset must "
                           "be the 64-hex-digit dataset id written by init", path=str(path))
    return NodeDir(path, config)


@dataclass(frozen=True)
class InitResult:
    node: NodeDir
    created: bool  # False: the directory already was a node of this dataset
    peer_id: str


def init_node(path: Path, signed: SignedCharter) -> InitResult:
    """Create (or complete) a node directory for ``signed``'s dataset.

    Refuses a charter whose founders' threshold is not met, a non-empty directory that is not a
    node, and a node of another dataset. Idempotent for the same charter.
    """
    signed.verify()
    dataset_hex = signed.dataset_id.hex()
    if path.exists() and not path.is_dir():
        raise DataDirError("datadir.not_a_directory", f"{path} exists and is not a directory",
                           path=str(path))
    created = False
    if is_node_dir(path):
        held = read_config_file(path / CONFIG_FILENAME).get("node", {}).get("dataset")
        if held != dataset_hex:
            raise DataDirError("datadir.other_dataset", f"{path} is already a node of dataset "
                               f"{str(held)[:16]}…, not of this charter's {dataset_hex[:16]}…; "
                               "use another directory", path=str(path))
    else:
        if path.exists():
            foreign = sorted(p.name for p in path.iterdir()
                             if p.name not in _INIT_DEBRIS and not p.name.startswith("."))
            if foreign:
                raise DataDirError("datadir.not_empty", f"{path} is not empty and not a node "
                                   f"(it holds {', '.join(foreign[:5])}); init needs an empty "
                                   "or new directory", path=str(path))
        path.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(path, 0o700)
        values = {section: dict(table) for section, table in DEFAULTS.items()}
        values["node"]["dataset"] = dataset_hex
        write_atomic(path / CONFIG_FILENAME, render_toml(values, _HEADER).encode(), mode=0o644)
        created = True
    node = open_node_dir(path, env={})
    from .p2p.identity import load_or_create_identity

    identity = load_or_create_identity(path)
    with Store.create(node.store_path, signed):
        pass
    return InitResult(node, created, str(identity.peer_id))
