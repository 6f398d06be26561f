"""One table from error codes to CLI exit codes and HTTP statuses (house style §4).

Error codes are dotted (`decode.non_canonical`); the longest matching prefix in
:data:`OUTCOMES` decides. Scripts may rely on the exit codes listed in docs/operators.md.
"""

from __future__ import annotations

from dataclasses import dataclass

from samizdat_protocol.errors import LocalError, RemoteError, SamizdatError

__all__ = ["EXIT_OK", "OUTCOMES", "Outcome", "outcome_for"]

EXIT_OK = 0


@dataclass(frozen=True, slots=True)
class Outcome:
    exit_code: int
    http_status: int


# Exit codes: 1 internal error, 2 usage, 3 not found, 4 bad input data, 5 verification failed,
# 6 not authorised, 7 key file or passphrase problem, 8 storage problem, 9 network problem,
# 10 partly done: some input lines were rejected (the rest was published; see the rejects file).
OUTCOMES: dict[str, Outcome] = {
    "usage": Outcome(2, 400),
    "notfound": Outcome(3, 404),
    "decode": Outcome(4, 400),
    "schema": Outcome(4, 400),
    "entry": Outcome(4, 400),
    "payload": Outcome(4, 400),
    "charter": Outcome(4, 400),
    "import": Outcome(4, 400),
    "import.rejected_lines": Outcome(10, 422),
    "publish": Outcome(4, 400),
    "publish.nothing_to_retract": Outcome(3, 404),
    "publish.concurrent": Outcome(8, 409),
    "bundle": Outcome(4, 400),
    "bundle.checksum": Outcome(5, 422),
    "bundle.since_fork": Outcome(5, 422),
    "bundle.unreadable": Outcome(2, 400),
    "bundle.output": Outcome(8, 500),
    "datadir": Outcome(2, 400),
    "config": Outcome(2, 400),
    "search": Outcome(2, 400),
    "io": Outcome(8, 500),
    "io.not_found": Outcome(2, 400),
    "head": Outcome(5, 422),
    "proof": Outcome(5, 422),
    "range": Outcome(5, 422),
    "signature": Outcome(5, 422),
    "equivocation": Outcome(5, 422),
    "verify": Outcome(5, 500),
    "auth": Outcome(6, 403),
    "keyfile": Outcome(7, 400),
    "identity": Outcome(7, 500),
    "store": Outcome(8, 500),
    "net": Outcome(9, 502),
    "p2p": Outcome(9, 502),
    "p2p.bad_addr": Outcome(2, 400),
    "p2p.compat": Outcome(1, 500),
    "frame": Outcome(9, 502),
    "sync": Outcome(9, 502),
    "wire": Outcome(9, 502),
    "backoff": Outcome(1, 500),
    "governance.unsigned": Outcome(6, 403),
    "light": Outcome(5, 502),
    "light.malformed": Outcome(9, 502),
    "light.version": Outcome(9, 502),
    "light.unexpected": Outcome(9, 502),
    "light.peer_error": Outcome(9, 502),
    "light.too_large": Outcome(8, 500),
}

_FALLBACK_REMOTE = Outcome(4, 400)
_FALLBACK_LOCAL = Outcome(1, 500)


def outcome_for(error: SamizdatError) -> Outcome:
    """The exit code and HTTP status for ``error``, by the longest matching code prefix."""
    parts = error.code.split(".")
    for cut in range(len(parts), 0, -1):
        found = OUTCOMES.get(".".join(parts[:cut]))
        if found is not None:
            return found
    if isinstance(error, RemoteError):
        return _FALLBACK_REMOTE
    if isinstance(error, LocalError):
        return _FALLBACK_LOCAL
    return _FALLBACK_LOCAL
