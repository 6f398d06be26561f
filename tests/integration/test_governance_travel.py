"""Governance travels between nodes (issue 7; spec §11-§13): by catch-up before any range, by
gossip, and both ways; a forged item is the serving peer's fault and stores nothing; a log
dropped for contradicting a pinned root is fetched again in the same session; the gossip
validator follows the authorisation state, so a rotation's new key is accepted."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import trio

from samizdat_node.gossip import ACCEPT, IGNORE, REJECT, HeadValidator, topic_for
from samizdat_node.p2p.host import connect, open_host
from samizdat_node.p2p.identity import Identity
from samizdat_node.p2p.serve import serve_protocol
from samizdat_node.store import AsyncStore, Store
from samizdat_node.sync import SYNC_PROTOCOL, SyncLimits, SyncServer, catch_up
from samizdat_node.sync.codec import decode_payload, encode_payload, read_message, write_message
from samizdat_node.sync.governance import governance_page, held_governance
from samizdat_protocol.governance import GovernanceEntry, propose
from samizdat_protocol.hashing import hash_leaves
from samizdat_protocol.heads import EquivocationProof, sign_head
from samizdat_protocol.log import PublisherLog
from samizdat_protocol.merkle import Frontier
from samizdat_protocol.signing import SigningKey
from samizdat_protocol.wire import (
    GossipEquivocation,
    GossipGovernance,
    GossipHeads,
    GovGet,
    GovReply,
    Hello,
    encode_message,
    governance_digest,
)
from tests.integration.test_gossip import _wait_subscribed, plain_pubsub
from tests.integration.test_sync_support import (
    CHARTER,
    KEYS,
    LOOPBACK,
    NOW,
    bodies,
    dump_tables,
    eventually,
    make_node_dir,
    node_config,
    running_nodes,
    store_view,
    views_of,
)
from tests.node.test_store_support import FOUNDER, STRANGER, body

pytestmark = pytest.mark.integration

DATASET = CHARTER.dataset_id
NEW = SigningKey.from_seed(b"\x4e" * 32)  # the key KEYS[0]'s identity is rotated to
LIMITS = SyncLimits(read_timeout=3.0, hello_timeout=3.0, idle_timeout=3.0)


def decided(seq: int, action: str, fields: dict[str, Any],
            signer: SigningKey = FOUNDER) -> GovernanceEntry:
    return propose(DATASET, seq, action, fields, NOW + seq).sign(signer)


def rotation(store: Store, seq: int = 1) -> GovernanceEntry:
    """KEYS[0] rotated to NEW as of what ``store`` holds (the pinned root is its head's)."""
    head = store.head(KEYS[0].public)
    assert head is not None
    return decided(seq, "rotate_publisher", {"old": KEYS[0].public, "new": NEW.public,
                                             "as_of": head.length, "root": head.root})


def submit(path: Path, entry: GovernanceEntry) -> None:
    """What `samizdat governance submit` does: another connection writes the node's store."""
    with Store.open(path / "store.sqlite") as store:
        assert store.add_governance(entry.to_bytes()).stored


def a_fork(length: int) -> EquivocationProof:
    a, b = PublisherLog(DATASET, KEYS[1].public), PublisherLog(DATASET, KEYS[1].public)
    for n in range(length):
        a.put(f"memo:{n}", body(n), n)
        b.put(f"memo:{n}", body(n, "fork"), n)
    return EquivocationProof(a.sign(KEYS[1], 1), b.sign(KEYS[1], 2))


# -- the validator (pure) --------------------------------------------------------------------


def test_gossip_validator_checks_governance_entries() -> None:
    publishers = {k.public for k in KEYS}
    v = HeadValidator(DATASET, publishers.__contains__, founders=frozenset({FOUNDER.public}))
    entry = decided(1, "add_publisher", {"key": NEW.public, "name": "new org"})

    def check(e: GovernanceEntry, *, local: bool = False) -> str:
        return v.check("peer", encode_message(GossipGovernance(e)), 0.0, local=local).action

    stranger_only = propose(DATASET, 1, "add_publisher", {"key": NEW.public, "name": "x"},
                            0).sign(STRANGER)
    forged = GovernanceEntry(entry.body, ((FOUNDER.public, bytes(64)),))
    other = propose(b"\x01" * 32, 1, "add_publisher", {"key": NEW.public, "name": "x"},
                    0).sign(FOUNDER)
    # Signed, but by no founder in force: perhaps founders a decision we lack put in force,
    # so no blame, and a catch-up from the sender (decision 0008).
    ignored = v.check("peer", encode_message(GossipGovernance(stranger_only)), 0.0)
    assert (ignored.action, ignored.ask) == (IGNORE, True)
    assert check(forged) == REJECT  # a founder's key with a signature that does not verify
    assert check(other) == REJECT  # another dataset
    verdict = v.check("peer", encode_message(GossipGovernance(entry)), 0.0)
    assert verdict.action == ACCEPT and verdict.governance == entry
    assert check(entry) == IGNORE  # held already: not forwarded again, no blame
    assert check(entry.sign(STRANGER)) == ACCEPT  # a new signature is news (it may count)
    assert check(entry.sign(STRANGER)) == IGNORE
    assert check(entry, local=True) == ACCEPT  # our own announcement always goes out
    # The founders in force decide: after set_founders the old founder alone is refused.
    v.founders = frozenset({KEYS[2].public})
    assert check(decided(2, "add_publisher", {"key": NEW.public, "name": "y"})) == IGNORE
    # Proofs are named by their heads, in either order.
    proof = a_fork(2)
    flipped = EquivocationProof(proof.longer, proof.shorter)
    assert v.check("peer", encode_message_proof(proof), 0.0).action == ACCEPT
    assert v.check("peer", encode_message_proof(flipped), 0.0).action == IGNORE


def encode_message_proof(proof: EquivocationProof) -> bytes:
    return encode_message(GossipEquivocation(proof))


def test_pages_cover_every_item_once_within_their_bounds(tmp_path: Path) -> None:
    with Store.create(tmp_path / "s.sqlite", CHARTER) as store:
        for seq in range(1, 8):
            store.add_governance(decided(seq, "add_publisher", {
                "key": SigningKey.from_seed(bytes([0x90 + seq]) * 32).public,
                "name": f"org {seq}" * 20}).to_bytes())
        store.publish(KEYS[1], bodies(3), NOW)
        assert store.add_equivocation(a_fork(3))
        held = held_governance(store)
    assert len(held) == 8 and held.digest == governance_digest(held.entries, held.proofs)
    for most, budget in ((1, 10**6), (3, 10**6), (100, 700), (100, 1)):
        seen: list[bytes] = []
        offset, more = 0, True
        while more:
            page = governance_page(held, GovGet(5, offset), most=most, budget=budget)
            weights = [len(i.to_bytes()) for i in (*page.entries, *page.proofs)]
            assert page.count >= 1 and len(page.entries) <= most and len(page.proofs) <= most
            assert sum(weights) <= budget or page.count == 1
            assert decode_payload(encode_payload(page)) == page
            seen += [i.to_bytes() for i in (*page.entries, *page.proofs)]
            offset, more = offset + page.count, page.more
        assert seen == [i.to_bytes() for i in (*held.entries, *held.proofs)]


# -- catch-up --------------------------------------------------------------------------------


@asynccontextmanager
async def two_hosts() -> AsyncIterator[tuple[Any, Any]]:
    async with (open_host(Identity.generate(), LOOPBACK) as one,
                open_host(Identity.generate(), LOOPBACK) as two):
        yield one, two


async def test_governance_comes_first_and_flows_both_ways(tmp_path: Path) -> None:
    """The server holds a rotation and the new key's log; the client holds another decision.
    One session each way: the rotation arrives before any range is planned (so the new key's
    log is fetched in that same session), and the client's decision reaches the server."""
    server_dir = make_node_dir(tmp_path, "server", records=100)
    with Store.open(server_dir / "store.sqlite") as store:
        store.add_governance(rotation(store).to_bytes())
        store.publish(NEW, bodies(30, start=100), NOW)
    client_store = Store.create(tmp_path / "client.sqlite", CHARTER)
    other = decided(2, "add_publisher", {"key": STRANGER.public, "name": "another org"})
    client_store.add_governance(other.to_bytes())
    server, client = await AsyncStore.open(server_dir / "store.sqlite"), AsyncStore(client_store)
    with trio.fail_after(30):
        async with two_hosts() as (one, two):
            SyncServer(server, limits=LIMITS).register(one)
            SyncServer(client, limits=LIMITS).register(two)
            report = await catch_up(two, client, await connect(two, str(one.get_addrs()[0])))
            assert report.ok, report.error
            assert report.governance == 1 and report.fetched == 130
            assert (await client.auth_state()).publishers[NEW.public].state == "active"
            back = await catch_up(one, server, await connect(one, str(two.get_addrs()[0])))
            assert back.ok and back.governance == 1 and back.fetched == 0
            assert STRANGER.public in (await server.auth_state()).publishers
            again = await catch_up(two, client, await connect(two, str(one.get_addrs()[0])))
            assert again.ok and again.governance == 0 and again.round_trips == 1
    await server.aclose()
    await client.aclose()
    assert store_view(server_dir / "store.sqlite") == store_view(tmp_path / "client.sqlite")


async def test_a_pinned_root_drops_a_forged_branch_and_the_session_refetches_it(
        tmp_path: Path) -> None:
    """The client holds a branch of KEYS[0] that diverges at 90; the server holds the honest
    100 entries and the founders' revocation pinning them. One session: the revocation comes
    first, the client's branch is dropped, and the honest log is fetched from 0."""
    honest_dir = make_node_dir(tmp_path, "honest", records=100)
    with Store.open(honest_dir / "store.sqlite") as store:
        kept = store.entries(KEYS[0].public, 0, 90)
        head = store.head(KEYS[0].public)
        assert head is not None
        store.add_governance(decided(1, "revoke_publisher", {
            "key": KEYS[0].public, "as_of": 100, "root": head.root}).to_bytes())
    forged_path = tmp_path / "forged.sqlite"
    with Store.create(forged_path, CHARTER) as forged:
        root = forged_root(kept.headers)
        forged.apply_batch(KEYS[0].public, 0, kept.headers, kept.payloads,
                           sign_head(KEYS[0], DATASET, 90, root, NOW))
        forged.publish(KEYS[0], bodies(20, start=90, variant="подделка"), NOW)  # the seizure
        assert forged.length(KEYS[0].public) == 110
    server = await AsyncStore.open(honest_dir / "store.sqlite")
    client = await AsyncStore.open(forged_path)
    with trio.fail_after(30):
        async with two_hosts() as (one, two):
            SyncServer(server, limits=LIMITS).register(one)
            report = await catch_up(two, client, await connect(two, str(one.get_addrs()[0])))
    assert report.ok, report.error
    assert report.governance == 1 and report.dropped == [KEYS[0].public]
    assert report.fetched == 100 and await client.refetch_needed() == []
    assert (await client.auth_state()).publishers[KEYS[0].public].state == "revoked"
    await server.aclose()
    await client.aclose()
    assert store_view(honest_dir / "store.sqlite") == store_view(forged_path)


def forged_root(headers: list[bytes]) -> bytes:
    frontier = Frontier.empty()
    frontier.extend(hash_leaves(headers))
    return frontier.root()


async def _hostile_gov_server(page: GovReply, stream: Any) -> None:
    await read_message(stream, timeout=5)
    await write_message(stream, Hello(DATASET, (), (), b"\x07" * 32), timeout=5)
    request, _ = await read_message(stream, timeout=5)
    assert isinstance(request, GovGet)
    await write_message(stream, GovReply(request.request_id, page.entries, page.proofs),
                        timeout=5)
    await trio.sleep(5)


@pytest.mark.parametrize(("name", "code"), [
    ("stranger", "governance.unsigned"), ("proof", "equivocation.")])
async def test_a_forged_governance_item_is_the_servers_fault_and_stores_nothing(
        tmp_path: Path, name: str, code: str) -> None:
    good = decided(1, "add_publisher", {"key": NEW.public, "name": "new org"})
    if name == "stranger":
        page = GovReply(0, (good, decided(2, "set_priorities", {"order": [KEYS[1].public]},
                                          signer=STRANGER)), ())
    else:
        proof = a_fork(2)
        page = GovReply(0, (good,), (EquivocationProof(proof.shorter, proof.shorter),))
    path = make_node_dir(tmp_path, "victim", records=10) / "store.sqlite"
    before = dump_tables(path)
    victim = await AsyncStore.open(path)
    with trio.fail_after(30):
        async with two_hosts() as (one, two):
            serve_protocol(one, SYNC_PROTOCOL, lambda s: _hostile_gov_server(page, s))
            report = await catch_up(two, victim, await connect(two, str(one.get_addrs()[0])),
                                    limits=LIMITS)
    await victim.aclose()
    assert not report.ok and report.penalised
    assert report.error is not None and report.error.code.startswith(code), report.error
    assert dump_tables(path) == before  # not even the good entry of the page


# -- running nodes: gossip, and the validator following the state ----------------------------


async def test_a_decision_reaches_a_running_peer_by_gossip_and_the_new_key_follows(
        tmp_path: Path) -> None:
    a = make_node_dir(tmp_path, "a", records=200)
    b = make_node_dir(tmp_path, "b")
    with trio.fail_after(60):
        # Anti-entropy is an hour away: after the first sync, only gossip carries anything.
        async with running_nodes([node_config(a, anti_entropy=3600),
                                  node_config(b, anti_entropy=3600)]) as nodes:

            async def same() -> bool:
                views = await views_of(nodes)
                return views[0] == views[1]

            assert await eventually(same, 20)
            with Store.open(a / "store.sqlite") as store:
                entry = rotation(store)
            await trio.to_thread.run_sync(submit, a, entry)

            async def rotated() -> bool:
                state = await nodes[1].store.auth_state()
                return state.publishers[KEYS[0].public].state == "rotated"

            assert await eventually(rotated, 15)
            assert nodes[1].gossip.stats.governance == 1  # stored from a gossip message
            await nodes[0].store.publish(NEW, bodies(50, start=200), NOW)
            assert await eventually(same, 15)
            assert await nodes[1].store.length(NEW.public) == 50
            assert nodes[1].gossip.stats.rejected == 0  # the new key's heads were accepted


async def test_a_new_keys_head_before_its_rotation_is_no_offence_and_brings_the_rotation(
        tmp_path: Path) -> None:
    """Gossip keeps no order: a rotation's new key may be heard of before the rotation. The
    node ignores the head without blame and catches up from the sender, which brings the
    rotation first and then the new key's log (decision 0008)."""
    node_dir = make_node_dir(tmp_path, "node", records=100)
    relay_dir = make_node_dir(tmp_path, "relay", records=100)
    relay_store = await AsyncStore.open(relay_dir / "store.sqlite")
    topic = topic_for(DATASET)
    try:
        with trio.fail_after(60):
            async with (running_nodes([node_config(node_dir, anti_entropy=3600)]) as nodes,
                        open_host(Identity.generate(), LOOPBACK) as host,
                        plain_pubsub(host, topic) as pubsub):
                # The relay serves catch-up but gossips nothing of its own (no governance).
                SyncServer(relay_store, limits=LIMITS).register(host)
                node = nodes[0]
                peer = await connect(host, node.addrs()[0])
                await _wait_subscribed(pubsub, peer, topic)

                async def settled() -> bool:  # the session on connecting found nothing new
                    return node.scheduler.sessions >= 1 and not node.scheduler._active

                assert await eventually(settled, 20)
                await relay_store.run_sync(lambda s: s.add_governance(rotation(s).to_bytes()))
                await relay_store.publish(NEW, bodies(30, start=100), NOW)
                head = await relay_store.run_sync(lambda s: s.head(NEW.public))
                assert head is not None
                await pubsub.publish(topic, encode_message(GossipHeads((head,))))

                async def caught_up() -> bool:
                    return await node.store.length(NEW.public) == 30

                assert await eventually(caught_up, 20)
                state = await node.store.auth_state()
                assert state.publishers[KEYS[0].public].state == "rotated"
                stats = node.gossip.stats
                assert (stats.unknown, stats.rejected, stats.banned) == (1, 0, [])
    finally:
        await relay_store.aclose()
    assert store_view(node_dir / "store.sqlite") == store_view(relay_dir / "store.sqlite")


async def test_an_entry_too_big_for_gossip_reaches_the_server_of_a_session(
        tmp_path: Path) -> None:
    """Gossip carries entries up to 16 KiB; a bigger one travels by catch-up only. Submitted
    to A, whose anti-entropy session with B is the only traffic: B, the *server* of that
    session, sees A's different digest in the hello and pulls it in a session of its own.
    (It does not apply: it names keys that are not publishers. It is kept and travels all
    the same, as a decision still being signed would.)"""
    a = make_node_dir(tmp_path, "a", records=20)
    b = make_node_dir(tmp_path, "b")
    big = decided(1, "set_priorities", {
        "order": [SigningKey.from_seed(bytes([n % 256, n // 256]) * 16).public
                  for n in range(600)]})
    assert len(big.to_bytes()) > 16 * 1024
    with trio.fail_after(60):
        async with running_nodes([node_config(a, anti_entropy=1.0),
                                  node_config(b, anti_entropy=3600)]) as nodes:

            async def settled() -> bool:  # the sessions on connecting are over
                return await nodes[1].store.length(KEYS[0].public) == 20 and not any(
                    node.scheduler.busy() or node.scheduler.status()["pending"]
                    for node in nodes)

            assert await eventually(settled, 20)
            await trio.to_thread.run_sync(submit, a, big)

            async def arrived() -> bool:
                held = await nodes[1].store.governance_entries()
                return [e.id for e in held] == [big.id]

            assert await eventually(arrived, 20)
            assert nodes[1].gossip.stats.governance == 0  # not by gossip
            rejected = (await nodes[1].store.auth_state()).rejected
            assert [(r.id, r.code) for r in rejected] == [(big.id, "governance.unknown_publisher")]
