"""`samizdat demo`: the main job on a built-in sample, end to end, printing what was proved.

At this stage (the verifiable core) the demo runs in one process: founders sign a charter, a
publisher signs a log of generated records in batches, a mirror verifies the whole log from
nothing, a reader checks one record with an inclusion proof, a second publisher corrects a record
without overwriting the first, and forged, tampered and forked data are each caught.
"""

from __future__ import annotations

import argparse
import random
import time
from typing import Any

from samizdat_protocol.charter import Charter, PublisherGrant, SignedCharter
from samizdat_protocol.errors import RemoteError
from samizdat_protocol.heads import find_equivocation, sign_head
from samizdat_protocol.log import PublisherLog, verify_range
from samizdat_protocol.merge import MergePolicy, merge_all
from samizdat_protocol.merkle import Frontier, verify_consistency, verify_inclusion
from samizdat_protocol.schema import SCHEMA_ID, validate_victim

from ..keystore import new_key
from ..sample import generate_records, record_id_for

BATCH = 1_000


def register(sub: Any) -> None:
    parser = sub.add_parser("demo", help="run the built-in demonstration on generated records")
    parser.add_argument("--records", type=int, default=10_000, help="sample size (default 10000)")
    parser.add_argument("--seed", type=int, default=1937)
    parser.set_defaults(handler=cmd_demo)


def _say(step: str, text: str) -> None:
    print(f"[{step}] {text}", flush=True)


def _name(body: dict[str, Any]) -> str:
    return " ".join(body.get(k, "") for k in ("surname", "name", "patronymic")).strip()


def cmd_demo(args: argparse.Namespace) -> int:
    rng = random.Random(args.seed)
    now = int(time.time() * 1000)
    founders = [new_key() for _ in range(3)]
    memorial, exile_org = new_key(), new_key()
    charter = Charter(
        name="Жертвы политического террора в СССР (synthetic sample)",
        schema=SCHEMA_ID,
        founders=tuple(f.public for f in founders),
        threshold=2,
        publishers=(PublisherGrant(memorial.public, "Memorial (sample)"),
                    PublisherGrant(exile_org.public, "Second organisation (sample)")),
        created=now,
    )
    signed = SignedCharter(charter).sign(founders[0]).sign(founders[2])
    signed.verify()
    dataset = charter.dataset_id
    _say("charter", f"dataset {dataset.hex()[:16]}…, 2 of 3 founders signed, threshold met")

    t0 = time.perf_counter()
    log = PublisherLog(dataset, memorial.public)
    heads = []
    for i, body in enumerate(generate_records(args.records, args.seed)):
        log.put(record_id_for(body), validate_victim(body), now + i)
        if log.length % BATCH == 0:
            heads.append(log.sign(memorial, now + i))
    if not heads or heads[-1].length != log.length:
        heads.append(log.sign(memorial, now + log.length))
    elapsed = time.perf_counter() - t0
    _say("publish", f"{log.length:,} records validated and appended, {len(heads)} heads signed "
         f"in {elapsed:.2f} s ({log.length / elapsed:,.0f} records/s)")

    t0 = time.perf_counter()
    headers = [entry.to_bytes() for entry in log.entries]
    verify_range(Frontier.empty(), headers, heads[-1], dataset)
    elapsed = time.perf_counter() - t0
    _say("mirror", f"verified all {len(headers):,} entries against one signed head "
         f"(root {heads[-1].root.hex()[:16]}…) in {elapsed * 1000:.0f} ms")

    index = rng.randrange(log.length)
    entry = log.entries[index]
    proof = log.tree.inclusion_proof(index)
    verify_inclusion(entry.leaf_hash, index, log.length, proof, heads[-1].root)
    body = log.log_entries(index, index + 1)[0].body or {}
    _say("reader", f"record {entry.record_id} ({_name(body)}) is entry {index}; its inclusion "
         f"proof of {len(proof)} hashes checks against the signed head")

    old = heads[len(heads) // 2]
    consistency = log.tree.consistency_proof(old.length, log.length)
    verify_consistency(old.length, old.root, log.length, heads[-1].root, consistency)
    _say("history", f"head at {old.length:,} is a prefix of head at {log.length:,} "
         f"(consistency proof of {len(consistency)} hashes)")

    second = PublisherLog(dataset, exile_org.public)
    corrected = dict(body, birth_comment="уточнено по архивной справке")
    second.put(entry.record_id, validate_victim(corrected), now + 10**6)
    log.retract(log.entries[0].record_id, "duplicate of another record", now + 10**6)
    policy = MergePolicy(priorities={memorial.public: 0, exile_org.public: 1})
    view = merge_all(log.log_entries() + second.log_entries(), policy)
    shown = view[entry.record_id]
    shown_by = "Memorial" if shown.displayed and shown.displayed.publisher == memorial.public \
        else "the second organisation"
    _say("merge", f"{entry.record_id}: shown version by {shown_by}, "
         f"{len(shown.alternatives)} alternative version(s) kept; "
         f"{log.entries[0].record_id} retracted: {view[log.entries[0].record_id].retracted}")

    caught = 0
    tampered = list(headers)
    raw = bytearray(tampered[index])
    raw[-1] ^= 1
    tampered[index] = bytes(raw)
    intruder = new_key()
    forged_head = sign_head(intruder, dataset, heads[-1].length, heads[-1].root, now)
    attacks = (
        ("a flipped byte in one entry",
         lambda: verify_range(Frontier.empty(), tampered, heads[-1], dataset)),
        ("a head signed by a key the charter does not authorise",
         lambda: charter.require_publisher(forged_head.publisher)),
        ("a truncated transfer",
         lambda: verify_range(Frontier.empty(), headers[:-1], heads[-1], dataset)),
    )
    for label, attempt in attacks:
        try:
            attempt()
        except RemoteError as exc:
            caught += 1
            _say("attack", f"{label}: rejected ({exc.code})")
    fork = PublisherLog(dataset, memorial.public)
    for e in log.entries[: old.length - 1]:
        fork.append(e, log.payloads.get(e.payload_hash or b""))
    fork.retract(log.entries[old.length - 1].record_id, "forged", now)
    forked_head = fork.sign(memorial, now)
    evidence = find_equivocation(old, forked_head)
    if evidence is not None:
        evidence.verify(dataset)
        caught += 1
        _say("attack", "the publisher key signed a forked history: equivocation proof built and "
             "verified; the publisher would be suspended everywhere")
    _say("summary", f"{log.length:,} entries signed and verified; {caught} of 4 attacks caught")
    return 0 if caught == 4 else 5

