"""Build the golden vectors of governance entries (run to regenerate governance.json).

`python -m tests.vectors.make_governance_vectors` rewrites tests/vectors/governance.json.
Regenerating is a wire change: bump the protocol version and update docs/protocol-spec.md §13
in the same commit.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from samizdat_protocol import hashing
from samizdat_protocol.authstate import AuthState, authorisation_state
from samizdat_protocol.charter import Charter, PublisherGrant
from samizdat_protocol.encoding import decode
from samizdat_protocol.entries import encode_payload
from samizdat_protocol.governance import GovernanceEntry, propose
from samizdat_protocol.signing import SigningKey
from tests.vectors.make_core_vectors import FOUNDER, PUBLISHER, to_json

PATH = Path(__file__).with_name("governance.json")

FOUNDERS = (FOUNDER, SigningKey.from_seed(bytes(range(64, 96))),
            SigningKey.from_seed(bytes(range(96, 128))))
NEW_FOUNDER = SigningKey.from_seed(bytes(range(128, 160)))
EXILE = SigningKey.from_seed(bytes(range(160, 192)))
NEW_KEY = SigningKey.from_seed(bytes(range(192, 224)))
TS = 1_700_000_000_000


def charter() -> Charter:
    return Charter(
        name="Жертвы политического террора в СССР (governance vector)",
        schema="memorial.victim/1",
        founders=tuple(f.public for f in FOUNDERS),
        threshold=2,
        publishers=(PublisherGrant(PUBLISHER.public, "Memorial"),),
        created=TS,
    )


def decisions() -> list[tuple[str, dict[str, Any]]]:
    """One decision of every kind, in seq order (seq = position + 1); all of them apply."""
    _, payload_hash = encode_payload({"surname": "Иванов", "name": "Иван", "birth": "1915"})
    return [
        ("add_publisher", {"key": EXILE.public, "name": "Мемориал в изгнании"}),
        ("set_priorities", {"order": [EXILE.public, PUBLISHER.public]}),
        ("revoke_publisher", {"key": PUBLISHER.public, "as_of": 10,
                              "root": hashing.tagged_hash(hashing.NODE, b"root at 10")}),
        ("rotate_publisher", {"old": PUBLISHER.public, "new": NEW_KEY.public, "as_of": 8,
                              "root": hashing.tagged_hash(hashing.NODE, b"root at 8"),
                              "name": "Memorial (key of 2025)"}),
        ("erase", {"record": "memo2007:1", "payload": payload_hash,
                   "reason": "a living relative asked"}),
        ("reinstate_publisher", {"key": EXILE.public, "through": 5}),
        ("set_founders", {"founders": [FOUNDERS[0].public, FOUNDERS[1].public,
                                       NEW_FOUNDER.public], "threshold": 2}),
    ]


def entries() -> list[GovernanceEntry]:
    out = []
    for seq, (action, fields) in enumerate(decisions(), start=1):
        entry = propose(charter().dataset_id, seq, action, fields, TS + seq)
        out.append(entry.sign(FOUNDERS[0]).sign(FOUNDERS[1]))
    return out


def summary(state: AuthState) -> dict[str, Any]:
    """What the vectors pin of the state: JSON-friendly, hex for bytes."""
    return {
        "founders": [k.hex() for k in state.founders],
        "threshold": state.threshold,
        "publishers": {k.hex(): {"state": s.state, "as_of": s.as_of,
                                 "to": s.to.hex() if s.to else None}
                       for k, s in sorted(state.publishers.items())},
        "order": [k.hex() for k in state.order],
        "identities": {k.hex(): [i.hex(), g] for k, (i, g) in sorted(state.identities.items())},
        "pins": {k.hex(): [p.length, p.root.hex()] for k, p in sorted(state.pins.items())},
        "erasures": sorted([r, p.hex()] for r, p in state.erasures),
        "applied": [i.hex() for i in state.applied],
        "last_seq": state.last_seq,
    }


def build() -> dict[str, Any]:
    ch = charter()
    signed = entries()
    return {
        "charter": {"body": ch.body_bytes().hex(), "dataset_id": ch.dataset_id.hex()},
        "entries": [
            {
                "action": e.action,
                "body_value": to_json(decode(e.body.body_bytes())),
                "body": e.body.body_bytes().hex(),
                "id": e.id.hex(),
                "signed": e.to_bytes().hex(),
                "signers": [k.hex() for k, _ in e.signatures],
            }
            for e in signed
        ],
        "state": summary(authorisation_state(ch, signed)),
    }


if __name__ == "__main__":
    PATH.write_text(json.dumps(build(), indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {PATH}")
