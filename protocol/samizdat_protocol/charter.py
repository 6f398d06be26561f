"""Dataset charter (design §2): what a dataset is, who founded it, who may publish.

``dataset_id = hash_charter(body_bytes)``: the id commits to the charter body, not to the
founders' signatures, so founders can sign one after another (offline) without changing the id.
A charter is *valid* when at least ``threshold`` distinct founders signed the body bytes under
the charter signing domain.

Body (canonical map)::

    {"v": 1, "name": str, "schema": str, "description": str, "created": int (ms),
     "founders": [bin32, ...], "threshold": int,
     "publishers": [{"key": bin32, "name": str}, ...]}      # list order = display priority

Signed charter file::

    {"body": bin (the body bytes), "signatures": [{"key": bin32, "sig": bin64}, ...]}
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .encoding import DecodeLimits, decode, encode
from .errors import DecodeError, SchemaError, SignatureError, UnauthorisedError
from .hashing import hash_charter
from .signing import DOMAIN_CHARTER, PUBLIC_KEY_SIZE, SigningKey, parse_signed, verify

__all__ = ["CHARTER_VERSION", "Charter", "PublisherGrant", "SignedCharter"]

CHARTER_VERSION = 1
MAX_FOUNDERS = 64
MAX_PUBLISHERS = 256
_LIMITS = DecodeLimits(max_bytes=256 * 1024, max_str=8 * 1024, max_bin=128 * 1024,
                       max_items=1024, max_depth=4)


def _bad(code: str, message: str, field_name: str) -> SchemaError:
    return SchemaError(f"charter.{code}", message, field=field_name)


@dataclass(frozen=True, slots=True)
class PublisherGrant:
    key: bytes
    name: str


@dataclass(frozen=True)
class Charter:
    name: str
    schema: str
    founders: tuple[bytes, ...]
    threshold: int
    publishers: tuple[PublisherGrant, ...]
    created: int
    description: str = ""
    _body: bytes = field(default=b"", compare=False, repr=False)

    def __post_init__(self) -> None:
        body = self._as_map()
        _validate(body)
        object.__setattr__(self, "_body", encode(body))

    def _as_map(self) -> dict[str, Any]:
        return {
            "v": CHARTER_VERSION,
            "name": self.name,
            "schema": self.schema,
            "description": self.description,
            "created": self.created,
            "founders": list(self.founders),
            "threshold": self.threshold,
            "publishers": [{"key": p.key, "name": p.name} for p in self.publishers],
        }

    def body_bytes(self) -> bytes:
        return self._body

    @property
    def dataset_id(self) -> bytes:
        return hash_charter(self._body)

    def priority(self, publisher: bytes) -> int:
        """Display priority of an initial publisher: its position in the list (0 is first)."""
        for position, grant in enumerate(self.publishers):
            if grant.key == publisher:
                return position
        return len(self.publishers)

    def is_publisher(self, key: bytes) -> bool:
        return any(grant.key == key for grant in self.publishers)

    def require_publisher(self, key: bytes) -> None:
        """Raise unless ``key`` is one of the charter's publishers (governance extends this)."""
        if not self.is_publisher(key):
            raise UnauthorisedError("auth.not_a_publisher", "signed by a key that the charter "
                                    "does not authorise to publish", key=key)

    @classmethod
    def from_body(cls, body_bytes: bytes) -> Charter:
        value = decode(body_bytes, _LIMITS)
        if not isinstance(value, dict):
            raise DecodeError("charter.not_a_map", "charter body is not a map")
        _validate(value)
        return cls(
            name=value["name"],
            schema=value["schema"],
            founders=tuple(value["founders"]),
            threshold=value["threshold"],
            publishers=tuple(PublisherGrant(p["key"], p["name"]) for p in value["publishers"]),
            created=value["created"],
            description=value["description"],
        )


def _validate(body: dict[str, Any]) -> None:
    expected = {"v", "name", "schema", "description", "created", "founders", "threshold",
                "publishers"}
    if set(body) != expected:
        odd = sorted(set(body) ^ expected)
        raise _bad("fields", f"charter fields differ from the format: {odd}", odd[0])
    if body["v"] != CHARTER_VERSION:
        raise _bad("version", f"unsupported charter version {body['v']!r}", "v")
    for name, limit in (("name", 200), ("schema", 100), ("description", 4000)):
        text = body[name]
        if not isinstance(text, str) or len(text) > limit or (name != "description" and not text):
            raise _bad(name, f"{name} must be a string of at most {limit} characters", name)
    created = body["created"]
    if isinstance(created, bool) or not isinstance(created, int) or created < 0:
        raise _bad("created", "created must be milliseconds since the epoch", "created")
    founders = body["founders"]
    if (not isinstance(founders, list) or not 0 < len(founders) <= MAX_FOUNDERS
            or any(not isinstance(k, bytes) or len(k) != PUBLIC_KEY_SIZE for k in founders)):
        raise _bad("founders", f"founders must be 1..{MAX_FOUNDERS} public keys", "founders")
    if len(set(founders)) != len(founders):
        raise _bad("founders", "a founder key is listed twice", "founders")
    threshold = body["threshold"]
    if isinstance(threshold, bool) or not isinstance(threshold, int) \
            or not 1 <= threshold <= len(founders):
        raise _bad("threshold", f"threshold must be 1..{len(founders)}", "threshold")
    publishers = body["publishers"]
    if not isinstance(publishers, list) or len(publishers) > MAX_PUBLISHERS:
        raise _bad("publishers", f"at most {MAX_PUBLISHERS} publishers", "publishers")
    keys = []
    for grant in publishers:
        if (not isinstance(grant, dict) or set(grant) != {"key", "name"}
                or not isinstance(grant["key"], bytes) or len(grant["key"]) != PUBLIC_KEY_SIZE
                or not isinstance(grant["name"], str) or not 0 < len(grant["name"]) <= 200):
            raise _bad("publishers", "each publisher is {key: 32 bytes, name: 1..200 chars}",
                       "publishers")
        keys.append(grant["key"])
    if len(set(keys)) != len(keys):
        raise _bad("publishers", "a publisher key is listed twice", "publishers")


@dataclass(frozen=True)
class SignedCharter:
    charter: Charter
    signatures: tuple[tuple[bytes, bytes], ...] = ()

    @property
    def dataset_id(self) -> bytes:
        return self.charter.dataset_id

    def sign(self, founder: SigningKey) -> SignedCharter:
        """Add ``founder``'s signature (replacing an earlier one by the same key)."""
        if founder.public not in self.charter.founders:
            raise UnauthorisedError("auth.not_a_founder", "this key is not a founder of the "
                                    "charter", key=founder.public)
        sig = founder.sign(DOMAIN_CHARTER, self.charter.body_bytes())
        kept = tuple((k, s) for k, s in self.signatures if k != founder.public)
        return SignedCharter(self.charter, tuple(sorted((*kept, (founder.public, sig)))))

    def valid_signers(self) -> list[bytes]:
        """Founders whose signatures verify (invalid or foreign signatures are not counted)."""
        good = []
        for key, sig in self.signatures:
            if key in self.charter.founders and key not in good:
                try:
                    verify(key, DOMAIN_CHARTER, self.charter.body_bytes(), sig)
                except SignatureError:
                    continue
                good.append(key)
        return good

    def verify(self) -> None:
        """Raise unless at least ``threshold`` distinct founders signed the body."""
        signers = self.valid_signers()
        if len(signers) < self.charter.threshold:
            raise UnauthorisedError(
                "auth.charter_threshold",
                f"charter has {len(signers)} valid founder signatures, needs "
                f"{self.charter.threshold}",
            )

    def to_bytes(self) -> bytes:
        return encode({"body": self.charter.body_bytes(),
                       "signatures": [{"key": k, "sig": s} for k, s in self.signatures]})

    @classmethod
    def from_bytes(cls, data: bytes) -> SignedCharter:
        body, sigs = parse_signed(decode(data, _LIMITS), "charter.malformed", "charter")
        return cls(Charter.from_body(body), tuple(sigs))
