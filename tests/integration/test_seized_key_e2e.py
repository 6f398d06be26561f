"""Surviving a seized key, end to end (issue 7): three `samizdat serve` processes.

Publisher A publishes 10,000 records on its node P. A's key is seized: on P it signs 10,000
retractions (branch 1, which mirror M1 syncs), and it forks the log: mirror M2 is handed a
branch that diverges at 9,990 and retracts everything too (branch 2, same length, another
root). The mirrors detect the fork by syncing with each other and show A suspended. Two of the
three founders then sign, offline and one after the other, a revocation of A as of 10,000
(pinning the honest root) and a rotation of A to a new key, and submit each to ONE node (M1)
through the CLI; the decisions travel by gossip and catch-up. M2 drops its forged branch for
contradicting the pin and fetches the honest log again. The new key publishes corrections and
new records on P. Every node converges to the pre-attack view plus the new key's entries, and
`samizdat verify` passes everywhere.
"""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from samizdat_node.cli.status import authorisation_json
from samizdat_node.keystore import write_key
from samizdat_node.sample import generate_records, record_id_for, write_jsonl
from samizdat_node.store import Store
from samizdat_protocol.entries import Entry
from samizdat_protocol.hashing import hash_leaf, hash_leaves
from samizdat_protocol.heads import SignedHead, sign_head
from samizdat_protocol.merkle import Frontier
from samizdat_protocol.signing import SigningKey
from tests.integration.test_sync_support import store_view
from tests.node.test_cli_support import (
    PUBLISHER,
    make_charter,
    make_node,
    ok,
    ok_json,
    write_keys,
)
from tests.node.test_store_support import view_table
from tests.support.cli import SAMIZDAT

pytestmark = pytest.mark.integration

RECORDS = 10_000
FORK_AT = 9_990  # where M2's forged branch leaves the honest log
CORRECTED = 100  # records the new key publishes again, corrected
ADDED = 50  # records the new key adds
SEED = 5
NOW = 1_700_000_000_000
SEIZED_AT = NOW + 86_400_000
SUCCESSOR = SigningKey.from_seed(b"\x34" * 32)
DEADLINE = 40.0
A = PUBLISHER.public


def _serve(data: Path, *bootstrap: str) -> subprocess.Popen[str]:
    args = [str(SAMIZDAT), "serve", "--data", str(data), "--json", "--listen",
            "/ip4/127.0.0.1/tcp/0", "--no-mdns", "--no-dht", "--status-interval", "0.2",
            "--log-level", "WARNING"]
    for addr in bootstrap:
        args += ["--bootstrap", addr]
    return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            stdin=subprocess.DEVNULL, text=True)


def _ready(proc: subprocess.Popen[str]) -> str:
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line, proc.stderr.read() if proc.stderr else ""
    info = json.loads(line)
    assert info["event"] == "ready"
    return str(info["addrs"][0])


def until(what: str, predicate: Callable[[], bool], within: float = DEADLINE) -> None:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting until {what}")


def append_signed(store: Store, key: SigningKey, entries: list[Entry], ts: int) -> SignedHead:
    """Append entries to ``key``'s log as its holder can (one signed head), through the
    store's ordinary entry path."""
    start = store.length(key.public)
    frontier = Frontier.empty()
    frontier.extend(hash_leaves(store.entries(key.public, 0, start).headers))
    headers = [e.to_bytes() for e in entries]
    frontier.extend(hash_leaves(headers))
    head = sign_head(key, store.dataset_id, start + len(headers), frontier.root(), ts)
    store.apply_batch(key.public, start, headers, [None] * len(headers), head, index=False)
    return head


def retract_everything(store: Store, key: SigningKey, count: int) -> SignedHead:
    """The seized key retracts the current version of each of the first ``count`` records."""
    held = store.entries(key.public, 0, count)
    entries = [Entry.retract(Entry.from_bytes(h).record_id, "фальшивка", SEIZED_AT,
                             prev=hash_leaf(h)) for h in held.headers]
    return append_signed(store, key, entries, SEIZED_AT)


def write_jsonl_file(path: Path, bodies: list[dict[str, Any]]) -> Path:
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        write_jsonl(bodies, fh)
    return path


@pytest.fixture
def procs() -> Iterator[list[subprocess.Popen[str]]]:
    running: list[subprocess.Popen[str]] = []
    try:
        yield running
    finally:
        for proc in running:
            if proc.poll() is None:
                proc.kill()
            proc.communicate(timeout=10)


def test_a_seized_key_is_survived_by_three_node_processes(
        tmp_path: Path, procs: list[subprocess.Popen[str]]) -> None:
    signed = make_charter()
    keys = write_keys(tmp_path / "keys")
    write_key(tmp_path / "keys" / "successor.key", SUCCESSOR, None)
    p, m1, m2 = (make_node(tmp_path / name, signed) for name in ("p", "m1", "m2"))
    bodies = list(generate_records(RECORDS, SEED))
    ids = [record_id_for(b) for b in bodies]

    # A publishes 10,000 records on its node, through the CLI.
    ok("publish", "--data", str(p), "--key", str(keys["publisher"]),
       str(write_jsonl_file(tmp_path / "records.jsonl", bodies)))
    with Store.open(p / "store.sqlite") as store:
        pre_attack = view_table(store)
        honest = store.entries(A, 0, RECORDS)
        honest_head = store.head(A)
        # The seizure, branch 1: every record retracted (M1 will sync it from P).
        branch1 = retract_everything(store, PUBLISHER, RECORDS)
    assert honest_head is not None and len(pre_attack) == RECORDS
    assert all(pub == A and not retracted for pub, _, retracted, _ in pre_attack.values())

    # Branch 2, handed to M2: the honest log to 9,990, other versions of the last ten
    # records, then everything retracted: as long as branch 1, another root.
    with Store.open(m2 / "store.sqlite") as store:
        prefix = Frontier.empty()
        prefix.extend(hash_leaves(honest.headers[:FORK_AT]))
        store.apply_batch(A, 0, honest.headers[:FORK_AT], honest.payloads[:FORK_AT],
                          sign_head(PUBLISHER, store.dataset_id, FORK_AT, prefix.root(),
                                    SEIZED_AT))
        store.publish(PUBLISHER, [(ids[n], bodies[n] | {"occupation": "подделано"})
                                  for n in range(FORK_AT, RECORDS)], SEIZED_AT)
        branch2 = retract_everything(store, PUBLISHER, RECORDS)
    assert branch2.length == branch1.length == 2 * RECORDS and branch2.root != branch1.root

    # Three daemons: M1 syncs branch 1 from P; M2 meets both with its branch 2.
    procs.append(_serve(p))
    p_addr = _ready(procs[0])
    procs.append(_serve(m1, p_addr))
    m1_addr = _ready(procs[1])
    procs.append(_serve(m2, p_addr, m1_addr))
    _ready(procs[2])
    stores = {name: Store.open(path / "store.sqlite") for name, path in
              (("p", p), ("m1", m1), ("m2", m2))}
    try:
        def states(key: bytes) -> set[str]:
            return {s.auth_state().publishers[key].state for s in stores.values()}

        until("M1 holds branch 1", lambda: stores["m1"].head(A) == branch1)
        until("every node suspends A", lambda: states(A) == {"suspended"})
        for node in (m1, m2):
            auth = ok_json("status", "--data", str(node))["authorisation"]
            standing = {item["key"]: item for item in auth["publishers"]}[A.hex()]
            assert standing["state"] == "suspended"
            assert standing["proof"]["head_lengths"] == [2 * RECORDS, 2 * RECORDS]

        # Two of three founders revoke A as of the pre-attack length, then rotate it; each
        # decision is prepared against M1, signed one founder at a time, submitted to M1 only.
        def decide(name: str, *args: str) -> None:
            path = str(tmp_path / f"{name}.gov")
            ok("governance", "propose", *args, "--data", str(m1), "--out", path)
            for founder in ("founder0", "founder2"):
                ok("governance", "sign", path, "--key", str(keys[founder]), "--data", str(m1))
            assert ok_json("governance", "submit", path, "--data", str(m1))["applied"]

        decide("revoke", "revoke", "--key", A.hex(), "--as-of", str(RECORDS))
        until("every node holds the revocation", lambda: states(A) == {"revoked"})
        # M2's branch contradicts the pinned root: dropped, and the honest log fetched again.
        until("M2 holds branch 1", lambda: stores["m2"].head(A) == branch1
              and not stores["m2"].refetch_needed())
        decide("rotate", "rotate", "--old", str(keys["publisher"]), "--new",
               SUCCESSOR.public.hex(), "--as-of", str(RECORDS))
        until("every node holds the rotation", lambda: states(A) == {"rotated"})

        # The new key carries on at P: corrections of 100 records and 50 new ones.
        later = [bodies[n] | {"occupation": "учитель (уточнено)"} for n in range(CORRECTED)]
        added = list(generate_records(RECORDS + ADDED, SEED))[RECORDS:]
        ok("publish", "--data", str(p), "--key", str(tmp_path / "keys" / "successor.key"),
           str(write_jsonl_file(tmp_path / "later.jsonl", later + added)))
        until("every node holds the new key's entries", lambda: all(
            s.length(SUCCESSOR.public) == CORRECTED + ADDED for s in stores.values()))
    finally:
        for store in stores.values():
            store.close()

    for proc in procs:
        proc.send_signal(signal.SIGTERM)
    for proc in procs:
        out, err = proc.communicate(timeout=20)
        assert proc.returncode == 0, err
        assert '"event": "stopped"' in out and "Traceback" not in err

    # Every node: the same heads and view, which is the pre-attack view plus the new key's.
    views = [store_view(node / "store.sqlite") for node in (p, m1, m2)]
    assert views[0] == views[1] == views[2]
    heads, view = views[0]
    assert heads[A.hex()] == (branch1.length, branch1.root.hex())
    corrected = {record_id_for(b) for b in later}
    assert len(view) == RECORDS + ADDED
    for record_id, (publisher, _, retracted, _) in view.items():
        assert not retracted
        if record_id in corrected or record_id not in pre_attack:
            assert publisher == SUCCESSOR.public, record_id
        else:
            assert view[record_id] == pre_attack[record_id], record_id
    for node in (p, m1, m2):
        report = ok_json("verify", "--data", str(node))
        assert report["ok"] and report["entries"] == 2 * RECORDS + CORRECTED + ADDED
    auth = ok_json("status", "--data", str(m2))["authorisation"]
    for node in (p, m1):
        with Store.open(node / "store.sqlite") as store:
            assert authorisation_json(store.auth_state()) == auth  # one state everywhere
    standing = {item["key"]: item for item in auth["publishers"]}
    assert standing[A.hex()]["state"] == "rotated"
    assert standing[A.hex()]["to"] == SUCCESSOR.public.hex()
    assert standing[A.hex()]["as_of"] == RECORDS
    assert standing[SUCCESSOR.public.hex()]["state"] == "active"
    assert len(auth["applied"]) == 2 and auth["rejected"] == []
    got = ok_json("get", "--data", str(m2), ids[0])
    assert got["displayed"]["publisher"] == SUCCESSOR.public.hex()
    assert got["displayed"]["fields"]["occupation"] == "учитель (уточнено)"
    with Store.open(m2 / "store.sqlite") as store:  # M2 dropped its copy: this one is P's
        shown = store.record(ids[RECORDS - 1])
    assert shown is not None and shown.displayed is not None and not shown.retracted
    assert shown.displayed.publisher == A
    assert shown.displayed.body == bodies[RECORDS - 1]
