"""The JSON documents of the API (api/openapi.json), which the HTML pages render too.

A record document carries, for every version, retraction and history entry, the evidence a
reader needs to re-check it without trusting this node: the entry header bytes, the inclusion
proof, and the publisher's signed head (its canonical bytes and fields). The node checks the
same evidence itself with the light client's checks (:func:`samizdat_node.light.verify.
check_entry`) before serving, and says in ``verification.checked`` whether it passed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from samizdat_node.light.evidence import HitEvidence, RecordEvidence
from samizdat_node.light.messages import ProvedEntry
from samizdat_node.light.verify import HeadChecker, LightVerifyError, check_entry
from samizdat_node.search.model import SearchPage, SearchQuery
from samizdat_node.store import PublisherStatus, StoreCounts
from samizdat_protocol.hashing import hash_leaf
from samizdat_protocol.heads import SignedHead
from samizdat_protocol.merge import Version

from .present import full_name, place, years

__all__ = [
    "Checked",
    "check_evidence",
    "head_json",
    "history_json",
    "record_json",
    "search_json",
    "status_json",
]

Key = tuple[bytes, int]


@dataclass(frozen=True)
class Checked:
    """Per entry: None when it verified, else the error naming what failed; and the body of
    every put that verified with its payload."""

    errors: dict[Key, LightVerifyError | None]
    bodies: dict[Key, dict[str, Any] | None]

    @property
    def ok(self) -> bool:
        return all(e is None for e in self.errors.values())

    def error(self, key: Key) -> LightVerifyError | None:
        return self.errors.get(key, LightVerifyError("light.missing", "no evidence"))


def check_evidence(evidence: RecordEvidence, checker: HeadChecker) -> Checked:
    errors: dict[Key, LightVerifyError | None] = {}
    bodies: dict[Key, dict[str, Any] | None] = {}
    for item in evidence.entries:
        key = (item.publisher, item.index)
        try:
            bodies[key] = check_entry(item, evidence.heads, checker,
                                      evidence.view.record_id).body
        except LightVerifyError as exc:
            errors[key] = exc
        else:
            errors[key] = None
    return Checked(errors, bodies)


def publisher_json(key: bytes, names: Mapping[bytes, str]) -> dict[str, Any]:
    return {"key": key.hex(), "name": names.get(key, "")}


def head_json(head: SignedHead, names: Mapping[bytes, str]) -> dict[str, Any]:
    return {"publisher": publisher_json(head.publisher, names), "dataset": head.dataset_id.hex(),
            "length": head.length, "root": head.root.hex(), "timestamp": head.timestamp,
            "signature": head.signature.hex(), "encoded": head.to_bytes().hex()}


def proof_json(item: ProvedEntry | None, head: SignedHead | None,
               error: LightVerifyError | None) -> dict[str, Any]:
    """How one entry is proved, and whether this node's check of it passed."""
    if item is None or head is None:
        return {"checked": False, "error": {"code": "light.missing", "message": "no evidence"}}
    return {
        "checked": error is None,
        "error": None if error is None else {"code": error.code, "message": error.message},
        "index": item.index,
        "tree_size": head.length,
        "root": head.root.hex(),
        "header": item.header.hex(),
        "leaf_hash": hash_leaf(item.header).hex(),
        "path": [h.hex() for h in item.proof],
    }


def _evidence_of(evidence: RecordEvidence, checked: Checked, publisher: bytes,
                 index: int) -> dict[str, Any]:
    return proof_json(evidence.entry(publisher, index), evidence.heads.get(publisher),
                      checked.error((publisher, index)))


def _version(v: Version, evidence: RecordEvidence, checked: Checked,
             names: Mapping[bytes, str]) -> dict[str, Any]:
    return {"publisher": publisher_json(v.publisher, names), "index": v.index,
            "timestamp": v.entry.timestamp, "payload_hash": (v.entry.payload_hash or b"").hex(),
            "erased": v.erased, "body": v.body,
            "verification": _evidence_of(evidence, checked, v.publisher, v.index)}


def record_json(evidence: RecordEvidence, checked: Checked,
                names: Mapping[bytes, str]) -> dict[str, Any]:
    view = evidence.view
    shown = view.displayed
    return {
        "record_id": view.record_id,
        "name": full_name(shown.body if shown else None),
        "retracted": view.retracted,
        "verified": checked.ok,
        "displayed": None if shown is None else _version(shown, evidence, checked, names),
        "alternatives": [_version(v, evidence, checked, names) for v in view.alternatives],
        "retractions": [
            {"publisher": publisher_json(r.publisher, names), "index": r.index,
             "reason": r.reason, "timestamp": r.timestamp,
             "verification": _evidence_of(evidence, checked, r.publisher, r.index)}
            for r in view.retractions],
        "heads": [head_json(h, names) for h in evidence.heads.values()],
    }


def history_json(evidence: RecordEvidence, checked: Checked,
                 names: Mapping[bytes, str]) -> dict[str, Any]:
    items = []
    for h in evidence.view.history:
        e = h.entry
        items.append({
            "publisher": publisher_json(h.publisher, names), "index": h.index, "kind": e.kind,
            "status": h.status, "timestamp": e.timestamp, "erased": h.erased,
            "payload_hash": e.payload_hash.hex() if e.payload_hash else None,
            "prev": e.prev.hex() if e.prev else None, "reason": e.reason,
            "target": e.target.hex() if e.target else None,
            "body": checked.bodies.get((h.publisher, h.index)),
            "verification": _evidence_of(evidence, checked, h.publisher, h.index)})
    return {"record_id": evidence.view.record_id, "verified": checked.ok, "history": items,
            "heads": [head_json(h, names) for h in evidence.heads.values()]}


def query_json(query: SearchQuery) -> dict[str, Any]:
    return {"q": query.text, "birth_year": query.birth_year, "tolerance": query.year_tolerance,
            "place": query.place, "kind": query.sentence_kind,
            "retracted": query.include_retracted, "limit": query.limit, "offset": query.offset}


def search_json(query: SearchQuery, page: SearchPage, hits: Iterable[HitEvidence],
                names: Mapping[bytes, str]) -> dict[str, Any]:
    out = []
    for h in hits:
        out.append({
            "record_id": h.hit.record_id, "name": full_name(h.body), "years": years(h.body),
            "birth_year": h.hit.birth_year, "place": place(h.body),
            "source": str(h.body.get("source", "")),
            "publisher": publisher_json(h.publisher, names), "retracted": h.retracted,
            "retraction_reason": h.retraction_reason, "score": round(h.hit.score, 3),
            "matched": {k: v.name.lower() for k, v in h.hit.matched.items()}})
    return {"query": query_json(query), "hits": out, "has_more": page.has_more,
            "complete": page.complete, "examined": page.examined,
            "ignored_terms": list(page.ignored_terms),
            "next_offset": query.offset + query.limit if page.has_more else None}


def status_json(dataset_id: bytes, name: str, schema: str, counts: StoreCounts,
                publishers: Iterable[PublisherStatus]) -> dict[str, Any]:
    names = {}
    pubs = []
    for p in publishers:
        names[p.key] = p.name
        pubs.append({"key": p.key.hex(), "name": p.name, "priority": p.priority,
                     "authorised": p.authorised, "length": p.length,
                     "head": None if p.head is None else head_json(p.head, names),
                     "equivocations": p.equivocations, "damaged": p.damaged})
    return {
        "dataset": {"id": dataset_id.hex(), "name": name, "schema": schema},
        "counts": {"entries": counts.entries, "payloads": counts.payloads,
                   "records": counts.records, "displayed": counts.displayed,
                   "retracted": counts.retracted, "publishers": counts.publishers,
                   "equivocations": counts.equivocations, "damaged": counts.damaged},
        "publishers": pubs,
    }
