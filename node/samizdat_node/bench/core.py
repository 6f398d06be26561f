"""Benchmark of the verifiable core (issue 2): `python -m samizdat_node.bench.core`.

Prints, for N synthetic entries:
* appends/s: building put entries (payload hashed, header encoded, leaf hashed, tree extended),
  with one signed head per batch, as a publisher does;
* verified entries/s: headers hashed into a tree from nothing and the root checked against the
  signed head (what a mirror does to verify a full replica);
* proof figures: inclusion and consistency proofs served and verified per second;
* peak RSS of the process.
"""

from __future__ import annotations

import argparse
import os
import resource
import time

from samizdat_protocol.entries import Entry
from samizdat_protocol.hashing import hash_leaves, hash_payload
from samizdat_protocol.heads import sign_head
from samizdat_protocol.merkle import Frontier, MerkleTree, verify_consistency, verify_inclusion
from samizdat_protocol.signing import SigningKey


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run(n: int, batch: int) -> dict[str, float]:
    key = SigningKey.from_seed(os.urandom(32))
    dataset = os.urandom(32)
    frontier = Frontier.empty()
    headers: list[bytes] = []
    t0 = time.perf_counter()
    heads = []
    for start in range(0, n, batch):
        chunk = []
        for i in range(start, min(n, start + batch)):
            payload_hash = hash_payload(b"record %d" % i)
            chunk.append(Entry.put(f"memo2007:{i}", payload_hash, 1_700_000_000_000 + i).to_bytes())
        frontier.extend(hash_leaves(chunk))
        heads.append(sign_head(key, dataset, frontier.size, frontier.root(), 1_700_000_000_000))
        headers.extend(chunk)
    t_append = time.perf_counter() - t0
    head = heads[-1]

    t0 = time.perf_counter()
    head.verify(dataset)
    check = Frontier.empty()
    for start in range(0, n, 65536):
        check.extend(hash_leaves(headers[start : start + 65536]))
    assert check.root() == head.root
    t_verify = time.perf_counter() - t0

    tree = MerkleTree(hash_leaves(headers))
    samples = 2000
    t0 = time.perf_counter()
    for k in range(samples):
        index = (k * 7919) % n
        verify_inclusion(
            tree.subtree_hash(0, index), index, n, tree.inclusion_proof(index), head.root
        )
    t_incl = time.perf_counter() - t0
    t0 = time.perf_counter()
    for k in range(samples):
        old = 1 + (k * 104729) % (n - 1)
        verify_consistency(old, tree.root(old), n, head.root, tree.consistency_proof(old, n))
    t_cons = time.perf_counter() - t0
    return {
        "entries": n,
        "appends_per_s": n / t_append,
        "append_s": t_append,
        "signed_heads": len(heads),
        "verified_entries_per_s": n / t_verify,
        "verify_s": t_verify,
        "inclusion_proofs_per_s": samples / t_incl,
        "consistency_proofs_per_s": samples / t_cons,
        "peak_rss_mb": peak_rss_mb(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=10_000, help="entries per signed head")
    args = parser.parse_args()
    result = run(args.entries, args.batch)
    print(f"entries:                 {result['entries']:,}")
    print(
        f"append+sign:             {result['appends_per_s']:,.0f} entries/s "
        f"({result['append_s']:.2f} s, {result['signed_heads']} signed heads)"
    )
    print(
        f"hash tree + verify head: {result['verified_entries_per_s']:,.0f} entries/s "
        f"({result['verify_s']:.2f} s)"
    )
    print(f"inclusion proofs:        {result['inclusion_proofs_per_s']:,.0f} built+verified/s")
    print(f"consistency proofs:      {result['consistency_proofs_per_s']:,.0f} built+verified/s")
    print(f"peak RSS:                {result['peak_rss_mb']:,.0f} MB")


if __name__ == "__main__":
    main()
