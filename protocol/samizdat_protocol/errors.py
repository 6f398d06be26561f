"""Typed errors with stable codes.

Two families, as in h11: :class:`LocalError` means *we* misused the API (a bug or a bad
argument from our own caller); :class:`RemoteError` means the bytes we were given (by a peer,
a file or a user) are wrong. Remote errors are raised at the single point where outside bytes
enter, so callers can penalise a peer or reject a file line without guessing.

Every error carries a stable dotted ``code`` (``"decode.non_canonical"``). The node maps codes
to CLI exit codes and HTTP statuses in one table; never match on message text.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "DecodeError",
    "EquivocationError",
    "KeyFileError",
    "LocalError",
    "ProofError",
    "RemoteError",
    "SamizdatError",
    "SchemaError",
    "SignatureError",
    "UnauthorisedError",
]


class SamizdatError(Exception):
    """Base of every error this project raises on purpose."""

    family = "samizdat"

    def __init__(self, code: str, message: str, **details: Any) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details

    def __str__(self) -> str:
        return f"{self.message} [{self.code}]"

    def to_dict(self) -> dict[str, Any]:
        """A JSON-friendly form (for ``--json`` output and API error bodies)."""
        out: dict[str, Any] = {"code": self.code, "message": self.message}
        for key, value in self.details.items():
            out[key] = value.hex() if isinstance(value, bytes) else value
        return out


class LocalError(SamizdatError):
    """We misused the API: a wrong argument or an impossible state on our side."""

    family = "local"


class RemoteError(SamizdatError):
    """Bytes from outside (peer, file, user input) are malformed, forged or inconsistent."""

    family = "remote"


class DecodeError(RemoteError):
    """Input is not canonical encoding of an allowed value (codes ``decode.*``)."""


class SchemaError(RemoteError):
    """A value decoded but does not follow its schema (codes ``schema.*``); names the field."""

    def __init__(self, code: str, message: str, *, field: str | None = None, **details: Any):
        super().__init__(code, message, field=field, **details)
        self.field = field


class SignatureError(RemoteError):
    """A signature does not verify (code ``signature.invalid``)."""


class ProofError(RemoteError):
    """A Merkle proof or a head does not verify (codes ``proof.*``)."""


class UnauthorisedError(RemoteError):
    """A key signed something it is not allowed to sign (codes ``auth.*``)."""


class EquivocationError(RemoteError):
    """Two signed heads of one publisher are inconsistent (code ``equivocation.detected``)."""


class KeyFileError(RemoteError):
    """A key file is malformed or its passphrase is wrong (codes ``keyfile.*``)."""
