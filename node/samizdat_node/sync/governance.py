"""Governance on the catch-up stream (spec §11, §13): what a node holds, pages of it, and
storing a peer's page.

The authorisation state is a pure function of the charter, the governance entries and the
equivocation proofs a node holds (spec §13), so two nodes holding the same items agree on who
may publish what. The hello's ``gov`` field is :func:`samizdat_protocol.wire.governance_digest`
of those items; when a client's and a server's differ, the client pages through the server's
items (``gov_get`` / ``gov``) and stores what it lacks before it plans any range, and the
server, seeing a client's different digest, schedules a session of its own the other way
(scheduler.on_hello): governance flows both ways in one round.

A page holds consecutive items of the server's list (entries in ``(seq, id)`` order, then one
proof per equivocation id in id order) from the requested offset, at most
``wire.MAX_GOV_ITEMS`` of each and ``wire.MAX_GOV_BYTES`` in all (at least one item). A server
serves every page of a session from the items it read for its hello, so the pages hold
exactly the set the digest names (and a client asking again and again costs no store reads);
what arrives meanwhile goes out in the next session.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property

from samizdat_protocol.governance import GovernanceEntry, equivocation_id
from samizdat_protocol.heads import EquivocationProof
from samizdat_protocol.wire import (
    MAX_GOV_BYTES,
    MAX_GOV_ITEMS,
    GovGet,
    GovReply,
    governance_digest,
)

from ..store import Store
from ..store.authority import GovernanceBatch

__all__ = ["HeldGovernance", "apply_page", "governance_page", "held_governance", "unheld"]


@dataclass(frozen=True)
class HeldGovernance:
    """A node's governance items, in the order they are served."""

    entries: tuple[GovernanceEntry, ...]  # (seq, id) order, valid signatures merged
    proofs: tuple[EquivocationProof, ...]  # one per equivocation id, in id order

    @cached_property
    def digest(self) -> bytes:
        return governance_digest(self.entries, self.proofs)

    @cached_property
    def signers(self) -> dict[bytes, frozenset[bytes]]:
        """Entry id -> keys whose signature is held (the store keeps only valid ones)."""
        return {e.id: frozenset(k for k, _ in e.signatures) for e in self.entries}

    @cached_property
    def proof_ids(self) -> frozenset[bytes]:
        return frozenset(equivocation_id(p) for p in self.proofs)

    def __len__(self) -> int:
        return len(self.entries) + len(self.proofs)


def held_governance(store: Store) -> HeldGovernance:
    """What ``store`` holds (blocking: run it in a worker thread)."""
    proofs = {equivocation_id(p): p for p in store.equivocations()}
    return HeldGovernance(tuple(store.governance_entries()),
                          tuple(proofs[name] for name in sorted(proofs)))


def governance_page(held: HeldGovernance, request: GovGet, *, most: int = MAX_GOV_ITEMS,
                    budget: int = MAX_GOV_BYTES) -> GovReply:
    """The page answering ``request``: items from its offset, cut by count and bytes."""
    entries: list[GovernanceEntry] = []
    proofs: list[EquivocationProof] = []
    size = 0
    position = request.offset
    split = len(held.entries)
    while position < len(held):
        is_entry = position < split
        weight = len(held.entries[position].to_bytes() if is_entry
                     else held.proofs[position - split].to_bytes())
        if len(entries if is_entry else proofs) >= most or (size and size + weight > budget):
            break
        if is_entry:
            entries.append(held.entries[position])
        else:
            proofs.append(held.proofs[position - split])
        size += weight
        position += 1
    return GovReply(request.request_id, tuple(entries), tuple(proofs), position < len(held))


def unheld(held: HeldGovernance, entries: Iterable[GovernanceEntry],
           proofs: Iterable[EquivocationProof]
           ) -> tuple[list[GovernanceEntry], list[EquivocationProof]]:
    """The items that may add something: entries carrying a signature by a key we hold none
    for, proofs of a pair of heads we hold no proof of."""
    new_entries = [e for e in entries
                   if not {k for k, _ in e.signatures} <= held.signers.get(e.id, frozenset())]
    new_proofs = [p for p in proofs if equivocation_id(p) not in held.proof_ids]
    return new_entries, new_proofs


def apply_page(store: Store, *, entries: Sequence[GovernanceEntry],
               proofs: Sequence[EquivocationProof]) -> GovernanceBatch:
    """Store what a page adds, all or nothing (blocking: a write in a worker thread).

    Raises the store's typed error for a forged item (another dataset, no founder's valid
    signature, a proof that does not prove): the serving peer's fault.
    """
    new_entries, new_proofs = unheld(held_governance(store), entries, proofs)
    if not new_entries and not new_proofs:
        return GovernanceBatch()
    return store.add_governance_batch(new_entries, new_proofs)
