"""Evidence from the replica store: entries with their payloads and inclusion proofs.

What the light-protocol server sends and what the gateway checks and shows come from here, so
the two never disagree about what is proved. The functions are plain blocking code over the
synchronous :class:`~samizdat_node.store.Store`; callers under trio run them with
``AsyncStore.run_sync`` (one worker-thread hop per request).

Light answers also carry the governance entries and equivocation proofs the store holds
(:func:`held_items`, spec §14): the client computes the authorisation state from them, as the
store did for the view.

Order matters: entries are read first and heads after, and a proof is built for the head read
then. Held logs only grow, so every entry read is below its head's length and every proof is
for a size the store holds (store/reads.py: nothing unverified is served).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from samizdat_node.search.model import SearchHit, SearchPage, SearchQuery
from samizdat_node.store import Store
from samizdat_node.store.view import withdrawn_put
from samizdat_node.sync.governance import held_governance
from samizdat_protocol.authstate import Pin
from samizdat_protocol.encoding import decode
from samizdat_protocol.entries import PAYLOAD_LIMITS
from samizdat_protocol.errors import LocalError
from samizdat_protocol.governance import GovernanceEntry
from samizdat_protocol.heads import EquivocationProof, SignedHead
from samizdat_protocol.merge import RecordView

from .messages import (
    MAX_GOVERNANCE_BYTES,
    MAX_GOVERNANCE_ITEMS,
    MAX_RECORD_ENTRIES,
    ProvedEntry,
    ProvedHit,
    RecordAnswer,
    SearchAnswer,
    governance_size,
)

__all__ = [
    "HitEvidence",
    "RecordEvidence",
    "collect_hits",
    "collect_record",
    "held_items",
    "prove_hits",
    "withdrawn_put",
]


GovernanceItems = tuple[tuple[GovernanceEntry, ...], tuple[EquivocationProof, ...]]


def held_items(store: Store) -> GovernanceItems:
    """Every governance entry and equivocation proof ``store`` holds, in the order sync serves
    them (sync/governance.py), or ``light.too_large`` past the light limits: a partial set
    would show the client a state no replica of ours is in."""
    held = held_governance(store)
    if (len(held.entries) > MAX_GOVERNANCE_ITEMS or len(held.proofs) > MAX_GOVERNANCE_ITEMS
            or governance_size(held.entries, held.proofs) > MAX_GOVERNANCE_BYTES):
        raise LocalError("light.too_large", f"{len(held)} governance items do not fit a light "
                         "answer")
    return held.entries, held.proofs


@dataclass(frozen=True)
class RecordEvidence:
    """The store's view of a record, and every entry of it proved against a stored head.

    ``entries`` follow ``view.history``; ``heads`` holds the head of each publisher named.
    """

    view: RecordView
    heads: dict[bytes, SignedHead]
    entries: tuple[ProvedEntry, ...]

    def answer(self, governance: GovernanceItems = ((), ())) -> RecordAnswer:
        """The light answer, with the governance items of :func:`held_items`."""
        return RecordAnswer(self.view.record_id, tuple(self.heads.values()), self.entries,
                            *governance)

    def entry(self, publisher: bytes, index: int) -> ProvedEntry | None:
        for item in self.entries:
            if item.publisher == publisher and item.index == index:
                return item
        return None


def _read_entry(store: Store, publisher: bytes, index: int) -> tuple[bytes, bytes | None]:
    got = store.entries(publisher, index, 1)
    if not got.headers:
        raise LocalError("light.missing_entry", f"entry {index} of {publisher.hex()[:16]} "
                         "is not held")
    return got.headers[0], got.payloads[0]


def _prove(store: Store, heads: dict[bytes, SignedHead], pins: Mapping[bytes, Pin],
           publisher: bytes, index: int, header: bytes, payload: bytes | None) -> ProvedEntry:
    """The entry with its inclusion proof: to the root the founders pinned when ``index`` is
    below a revocation's or rotation's pin (spec §14: the client checks those entries against
    the pinned root, not against a head the revoked key could still sign), else to the head."""
    pin = pins.get(publisher)
    size = pin.length if pin is not None and index < pin.length else heads[publisher].length
    proof = store.inclusion_proof(publisher, index, size)
    return ProvedEntry(publisher, index, header, payload, tuple(proof))


def collect_record(store: Store, record_id: str) -> RecordEvidence | None:
    """Every entry of ``record_id`` with payload and proof, or None if no entry names it."""
    view = store.record(record_id)
    if view is None:
        return None
    if len(view.history) > MAX_RECORD_ENTRIES:
        raise LocalError("light.too_large", f"{record_id} has {len(view.history)} entries; "
                         f"at most {MAX_RECORD_ENTRIES} are served at once")
    raw = [_read_entry(store, item.publisher, item.index) for item in view.history]
    all_heads = store.heads()
    heads = {item.publisher: all_heads[item.publisher] for item in view.history}
    pins = store.auth_state().pins
    entries = tuple(_prove(store, heads, pins, item.publisher, item.index, header, payload)
                    for item, (header, payload) in zip(view.history, raw, strict=True))
    return RecordEvidence(view, heads, entries)


@dataclass(frozen=True)
class HitEvidence:
    """A search hit with the put it shows (its header, payload and body) and, for a retracted
    record, the retraction that withdrew it."""

    hit: SearchHit
    publisher: bytes
    index: int
    header: bytes
    payload: bytes
    body: dict[str, object]
    retraction: tuple[int, bytes] | None = None  # (index, header) by the same publisher
    retraction_reason: str | None = None

    @property
    def retracted(self) -> bool:
        return self.retraction is not None


def collect_hits(store: Store, query: SearchQuery) -> tuple[SearchPage, list[HitEvidence]]:
    """Run ``query`` and read, for each hit, the put it shows (hits with no body held, e.g.
    an erased payload, are left out)."""
    page = store.search(query)
    rows = {row.row_key: row for row in store.view_rows(row_keys=[h.row_key
                                                                  for h in page.hits])}
    out = []
    for hit in page.hits:
        row = rows.get(hit.row_key)
        if row is None:
            continue
        retraction: tuple[int, bytes] | None = None
        reason = None
        if row.publisher is not None and row.index is not None:
            publisher, index = row.publisher, row.index
        else:
            view = store.record(hit.record_id)
            found = withdrawn_put(view) if view is not None else None
            if found is None:
                continue
            publisher, index, retract_index, reason = found
            retraction = (retract_index, _read_entry(store, publisher, retract_index)[0])
        header, payload = _read_entry(store, publisher, index)
        if payload is None:
            continue
        body = decode(payload, PAYLOAD_LIMITS)
        if isinstance(body, dict):
            out.append(HitEvidence(hit, publisher, index, header, payload, body, retraction,
                                   reason))
    return page, out


def prove_hits(store: Store, page: SearchPage, hits: Sequence[HitEvidence]) -> SearchAnswer:
    """The light-protocol answer for hits read by :func:`collect_hits` (heads and governance
    read now)."""
    all_heads = store.heads()
    heads = {h.publisher: all_heads[h.publisher] for h in hits}
    pins = store.auth_state().pins
    proved = []
    for h in hits:
        entries = [_prove(store, heads, pins, h.publisher, h.index, h.header, h.payload)]
        if h.retraction is not None:
            index, header = h.retraction
            entries.append(_prove(store, heads, pins, h.publisher, index, header, None))
        proved.append(ProvedHit(h.hit.record_id, tuple(entries),
                                {k: int(v) for k, v in h.hit.matched.items()}))
    return SearchAnswer(tuple(heads.values()), tuple(proved), page.has_more, page.complete,
                        *held_items(store))
