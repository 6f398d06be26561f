"""Ed25519 signatures and passphrase-sealed secret keys; the only module that imports nacl.

Every signature covers ``domain || message`` where ``domain`` is a fixed ASCII tag ending in a
NUL byte (``b"samizdat/head/1\\0"``), so a signature made for one purpose is never valid for
another. Key generation takes its 32-byte seed from the caller: this package holds no global
randomness (house style §1), the node passes ``os.urandom``.

Sealed key format (canonical map, see docs/protocol-spec.md §Keys)::

    {"format": "samizdat-key/1", "public": bin32, "kdf": "none", "seed": bin32}
    {"format": "samizdat-key/1", "public": bin32, "kdf": "argon2id",
     "salt": bin16, "ops": int, "mem": int, "nonce": bin24, "sealed": bin(32+16)}
"""

from __future__ import annotations

from dataclasses import dataclass

import nacl.bindings
import nacl.exceptions
import nacl.pwhash
import nacl.secret
import nacl.signing

from .encoding import decode, encode
from .errors import DecodeError, KeyFileError, LocalError, SignatureError

__all__ = [
    "DOMAIN_CHARTER",
    "DOMAIN_GOVERNANCE",
    "DOMAIN_HEAD",
    "KEY_FORMAT",
    "PUBLIC_KEY_SIZE",
    "SEED_SIZE",
    "SIGNATURE_SIZE",
    "SigningKey",
    "open_key",
    "parse_signed",
    "seal_key",
    "verify",
]

PUBLIC_KEY_SIZE = 32
SEED_SIZE = 32
SIGNATURE_SIZE = 64
KEY_FORMAT = "samizdat-key/1"

DOMAIN_HEAD = b"samizdat/head/1\x00"
DOMAIN_CHARTER = b"samizdat/charter/1\x00"
DOMAIN_GOVERNANCE = b"samizdat/governance/1\x00"
_DOMAINS = frozenset({DOMAIN_HEAD, DOMAIN_CHARTER, DOMAIN_GOVERNANCE})

SALT_SIZE = nacl.pwhash.argon2id.SALTBYTES
NONCE_SIZE = nacl.secret.SecretBox.NONCE_SIZE
# Interactive-grade limits keep `samizdat publish` responsive; a seized laptop still costs an
# attacker an argon2id run of 64 MiB per guess.
DEFAULT_OPS = nacl.pwhash.argon2id.OPSLIMIT_MODERATE
DEFAULT_MEM = nacl.pwhash.argon2id.MEMLIMIT_INTERACTIVE
_MAX_OPS = nacl.pwhash.argon2id.OPSLIMIT_SENSITIVE
_MAX_MEM = nacl.pwhash.argon2id.MEMLIMIT_SENSITIVE


def _check_domain(domain: bytes) -> None:
    if domain not in _DOMAINS:
        raise LocalError("signing.domain", f"unknown signing domain {domain!r}")


@dataclass(frozen=True)
class SigningKey:
    """An Ed25519 secret key (held as its 32-byte seed) and its public key."""

    seed: bytes
    public: bytes

    @classmethod
    def from_seed(cls, seed: bytes) -> SigningKey:
        if len(seed) != SEED_SIZE:
            raise LocalError("signing.seed_size", f"seed must be {SEED_SIZE} bytes")
        sk = nacl.signing.SigningKey(seed)
        return cls(seed=bytes(seed), public=bytes(sk.verify_key))

    def sign(self, domain: bytes, message: bytes) -> bytes:
        _check_domain(domain)
        sk = nacl.signing.SigningKey(self.seed)
        return bytes(sk.sign(domain + message).signature)

    def __repr__(self) -> str:  # never print the seed
        return f"SigningKey(public={self.public.hex()})"


def parse_signed(value: object, code: str, what: str) -> tuple[bytes, list[tuple[bytes, bytes]]]:
    """Split a decoded signed document ``{"body": bin, "signatures": [{"key", "sig"}...]}``.

    The shared envelope of signed charters (spec §4) and governance entries (spec §13). Checks
    only the shape and sizes (raising :class:`DecodeError` with ``code``); verifying the
    signatures is the caller's business, because who counts as a signer differs.
    """
    if (not isinstance(value, dict) or set(value) != {"body", "signatures"}
            or not isinstance(value["body"], bytes)
            or not isinstance(value["signatures"], list)):
        raise DecodeError(code, f"not a signed {what}")
    sigs = []
    for item in value["signatures"]:
        if (not isinstance(item, dict) or set(item) != {"key", "sig"}
                or not isinstance(item["key"], bytes) or not isinstance(item["sig"], bytes)
                or len(item["key"]) != PUBLIC_KEY_SIZE
                or len(item["sig"]) != SIGNATURE_SIZE):
            raise DecodeError(code, f"malformed {what} signature")
        sigs.append((item["key"], item["sig"]))
    return value["body"], sigs


def verify(public: bytes, domain: bytes, message: bytes, signature: bytes) -> None:
    """Raise :class:`SignatureError` unless ``signature`` is ``public``'s over domain+message."""
    _check_domain(domain)
    if len(public) != PUBLIC_KEY_SIZE or len(signature) != SIGNATURE_SIZE:
        raise SignatureError("signature.invalid", "malformed key or signature length")
    try:
        nacl.bindings.crypto_sign_open(signature + domain + message, public)
    except (nacl.exceptions.BadSignatureError, ValueError, TypeError) as exc:
        raise SignatureError("signature.invalid", "signature does not verify") from exc


def seal_key(
    key: SigningKey,
    passphrase: bytes | None,
    *,
    salt: bytes = b"",
    nonce: bytes = b"",
    ops: int = DEFAULT_OPS,
    mem: int = DEFAULT_MEM,
) -> bytes:
    """Encode ``key`` as a key file body; with a passphrase, seal it with argon2id + secretbox.

    ``salt`` (16 bytes) and ``nonce`` (24 bytes) must come from a CSPRNG when a passphrase is set.
    """
    if passphrase is None:
        return encode({"format": KEY_FORMAT, "public": key.public, "kdf": "none", "seed": key.seed})
    if len(salt) != SALT_SIZE or len(nonce) != NONCE_SIZE:
        raise LocalError("keyfile.randomness", "sealing needs a 16-byte salt and a 24-byte nonce")
    box_key = nacl.pwhash.argon2id.kdf(32, passphrase, salt, opslimit=ops, memlimit=mem)
    sealed = nacl.secret.SecretBox(box_key).encrypt(key.seed, nonce).ciphertext
    return encode(
        {
            "format": KEY_FORMAT,
            "public": key.public,
            "kdf": "argon2id",
            "salt": salt,
            "ops": ops,
            "mem": mem,
            "nonce": nonce,
            "sealed": bytes(sealed),
        }
    )


def _field(body: dict[str, object], name: str, kind: type, size: int | None = None) -> object:
    value = body.get(name)
    if not isinstance(value, kind) or (size is not None and len(value) != size):  # type: ignore[arg-type]
        raise KeyFileError("keyfile.malformed", f"key file field {name!r} is missing or malformed")
    return value


def key_file_public(data: bytes) -> bytes:
    """The public key recorded in a key file, without needing its passphrase."""
    return _parse(data)[1]


def key_file_is_sealed(data: bytes) -> bool:
    return _parse(data)[0].get("kdf") == "argon2id"


def _parse(data: bytes) -> tuple[dict[str, object], bytes]:
    try:
        body = decode(data)
    except Exception as exc:
        raise KeyFileError("keyfile.malformed", "not a samizdat key file") from exc
    if not isinstance(body, dict) or body.get("format") != KEY_FORMAT:
        raise KeyFileError("keyfile.malformed", f"not a {KEY_FORMAT} key file")
    public = _field(body, "public", bytes, PUBLIC_KEY_SIZE)
    assert isinstance(public, bytes)
    return body, public


def open_key(data: bytes, passphrase: bytes | None) -> SigningKey:
    """Decode a key file body; unseal it if sealed. Raises :class:`KeyFileError`."""
    body, public = _parse(data)
    kdf = body.get("kdf")
    if kdf == "none":
        seed = _field(body, "seed", bytes, SEED_SIZE)
    elif kdf == "argon2id":
        if passphrase is None:
            raise KeyFileError("keyfile.passphrase_required", "this key file needs a passphrase")
        salt = _field(body, "salt", bytes, SALT_SIZE)
        nonce = _field(body, "nonce", bytes, NONCE_SIZE)
        sealed = _field(body, "sealed", bytes, SEED_SIZE + nacl.secret.SecretBox.MACBYTES)
        ops = _field(body, "ops", int)
        mem = _field(body, "mem", int)
        assert isinstance(ops, int) and isinstance(mem, int)
        if not (0 < ops <= _MAX_OPS and 0 < mem <= _MAX_MEM):
            raise KeyFileError("keyfile.malformed", "key file asks for unreasonable KDF limits")
        try:
            box_key = nacl.pwhash.argon2id.kdf(32, passphrase, salt, opslimit=ops, memlimit=mem)  # type: ignore[arg-type]
            seed = nacl.secret.SecretBox(box_key).decrypt(sealed, nonce)  # type: ignore[arg-type]
        except nacl.exceptions.CryptoError as exc:
            raise KeyFileError("keyfile.bad_passphrase", "wrong passphrase for this key") from exc
    else:
        raise KeyFileError("keyfile.malformed", f"unknown key protection {kdf!r}")
    assert isinstance(seed, bytes)
    key = SigningKey.from_seed(seed)
    if key.public != public:
        raise KeyFileError("keyfile.mismatch", "key file's public key does not match its secret")
    return key
