"""Gossip of heads (design §4.1; spec §12): the validator's laws, and real gossipsub meshes.

The validator is pure (time passed in), so its rules are tested directly; then real nodes
show that invalid messages are not forwarded and get their sender banned, that a valid head
travels and triggers catch-up, and that an equivocation is proven, stored and gossiped.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
import trio
from hypothesis import example, given
from hypothesis import strategies as st
from libp2p.pubsub.gossipsub import PROTOCOL_ID, PROTOCOL_ID_V11, GossipSub
from libp2p.pubsub.pubsub import Pubsub
from libp2p.tools.anyio_service import background_trio_service

from samizdat_node.gossip import ACCEPT, IGNORE, REJECT, HeadValidator, RateLimiter, topic_for
from samizdat_node.p2p.host import connect, open_host
from samizdat_node.p2p.identity import Identity
from samizdat_protocol.encoding import encode
from samizdat_protocol.heads import EquivocationProof, SignedHead, sign_head
from samizdat_protocol.log import PublisherLog
from samizdat_protocol.wire import GossipEquivocation, GossipHeads, encode_message
from tests.integration.test_sync_support import (
    CHARTER,
    KEYS,
    LOOPBACK,
    eventually,
    make_node_dir,
    node_config,
    running_nodes,
)
from tests.node.test_store_support import STRANGER, body

DATASET = CHARTER.dataset_id
AUTHORISED = {k.public for k in KEYS}


def _validator() -> HeadValidator:
    return HeadValidator(DATASET, AUTHORISED.__contains__, rate=5.0, burst=10.0)


def _log(n: int, variant: str = "", key: Any = KEYS[0]) -> PublisherLog:
    log = PublisherLog(DATASET, key.public)
    for i in range(n):
        log.put(f"memo:{i}", body(i, variant), 1000 + i)
    return log


def _heads(*heads: SignedHead) -> bytes:
    return encode_message(GossipHeads(tuple(heads)))


# -- the validator (pure) --------------------------------------------------------------------


def test_validator_verdicts() -> None:
    v = _validator()
    h3 = _log(3).sign(KEYS[0], 1)
    h5 = _log(5).sign(KEYS[0], 2)
    forged = SignedHead(DATASET, h5.publisher, 5, h5.root, h5.timestamp, bytes(64))
    other_dataset = sign_head(KEYS[0], b"\3" * 32, 5, h5.root, 1)
    assert v.check("p", _heads(forged), 0).action == REJECT
    assert v.check("p", _heads(other_dataset), 0).action == REJECT
    assert v.check("p", b"\x93garbage", 0).action == REJECT
    assert v.check("p", encode({"t": "heads", "heads": []}), 0).action == REJECT
    assert v.check("p", b"\0" * 40_000, 0).action == REJECT  # oversize
    # A newer head is news; the same head again is relayed without news; an older one is stale.
    first = v.check("p", _heads(h5), 0)
    assert first.action == ACCEPT and first.news == (h5,)
    again = v.check("p", _heads(h5), 0)
    assert again.action == ACCEPT and again.news == ()
    assert v.check("p", _heads(h3), 0).action == IGNORE
    # Same length, another root: a fork, relayed so that the store can prove it.
    fork = _log(5, variant="-fork").sign(KEYS[0], 9)
    verdict = v.check("p", _heads(fork), 0)
    assert verdict.action == ACCEPT and verdict.conflicts == (fork,)


def test_a_validly_signed_unknown_key_is_ignored_and_asks_for_a_catch_up() -> None:
    """Perhaps a rotation or a new publisher we do not hold yet (decision 0008): no blame,
    not forwarded, and a catch-up from the sender at most once an ask_interval."""
    v = _validator()
    known = _log(5).sign(KEYS[0], 1)
    alien = sign_head(STRANGER, DATASET, 5, known.root, 1)
    forged_alien = SignedHead(DATASET, STRANGER.public, 5, known.root, 1, bytes(64))
    assert v.check("p", _heads(forged_alien), 0).action == REJECT  # a bad signature still is
    first = v.check("p", _heads(alien), 0)
    assert (first.action, first.ask, first.news) == (IGNORE, True, ())
    assert not v.check("p", _heads(alien), 29).ask  # asked of p already
    assert v.check("q", _heads(alien), 29).ask  # another sender
    assert v.check("p", _heads(alien), 31).ask  # an ask_interval later
    assert not v.check("me", _heads(alien), 40, local=True).ask  # never of ourselves
    mixed = v.check("r", _heads(known, alien), 40)  # the whole message waits for governance
    assert (mixed.action, mixed.ask, mixed.news) == (IGNORE, True, ())
    assert v.check("r", _heads(known), 41).news == (known,)  # nothing was noted from it
    fork_root = _log(5, "-fork").sign(KEYS[0], 2).root
    proof = EquivocationProof(sign_head(STRANGER, DATASET, 5, known.root, 1),
                              sign_head(STRANGER, DATASET, 5, fork_root, 2))
    verdict = v.check("s", encode_message(GossipEquivocation(proof)), 50)
    assert (verdict.action, verdict.ask) == (IGNORE, True)


def test_equivocation_proofs_are_checked_and_deduplicated() -> None:
    v = _validator()
    a = _log(5).sign(KEYS[0], 1)
    b = _log(5, variant="-fork").sign(KEYS[0], 2)
    proof = EquivocationProof(a, b)
    message = encode_message(GossipEquivocation(proof))
    assert v.check("p", message, 0).action == ACCEPT
    assert v.check("q", message, 0).action == IGNORE  # known already
    consistent = EquivocationProof(a, a)
    bad = encode_message(GossipEquivocation(consistent))
    assert v.check("p", bad, 0).action == REJECT


@given(st.lists(st.floats(0, 0.5), min_size=1, max_size=200))
@example([0.0] * 50)
def test_rate_limiter_never_allows_more_than_burst_plus_rate_times_elapsed(gaps: list[float],
                                                                          ) -> None:
    limiter = RateLimiter(rate=5.0, burst=10.0)
    now = 0.0
    allowed = 0
    for gap in gaps:
        now += gap
        allowed += limiter.allow("peer", now)
    assert allowed <= 10 + 5.0 * now + 1e-9


def test_rate_limit_is_per_peer_and_ignores_rather_than_rejects() -> None:
    v = _validator()
    head = _log(2).sign(KEYS[0], 1)
    verdicts = [v.check("flood", _heads(head), 0.0).action for _ in range(12)]
    assert verdicts.count(IGNORE) == 2 and REJECT not in verdicts
    assert v.check("calm", _heads(head), 0.0).action == ACCEPT
    assert v.check("self", _heads(head), 0.0, local=True).action == ACCEPT


# -- real meshes -----------------------------------------------------------------------------


@asynccontextmanager
async def plain_pubsub(host: Any, topic: str) -> AsyncIterator[Pubsub]:
    """A gossipsub node with no validator at all: what a hostile peer runs."""
    router = GossipSub([PROTOCOL_ID_V11, PROTOCOL_ID], degree=6, degree_low=4, degree_high=12,
                       heartbeat_interval=1, spam_protection_enabled=False)
    pubsub = Pubsub(host, router)
    async with background_trio_service(pubsub), background_trio_service(router):
        await pubsub.wait_until_ready()
        await pubsub.subscribe(topic)
        yield pubsub


async def _wait_subscribed(pubsub: Pubsub, peer: Any, topic: str) -> None:
    with trio.fail_after(10):
        while peer not in pubsub.peer_topics.get(topic, set()):  # noqa: ASYNC110
            await trio.sleep(0.05)


@pytest.mark.integration
async def test_invalid_gossip_is_not_forwarded_and_its_sender_is_banned(tmp_path: Path) -> None:
    dirs = [make_node_dir(tmp_path, "victim", records=50), make_node_dir(tmp_path, "c")]
    topic = topic_for(DATASET)
    real = _log(60).sign(KEYS[0], 1)
    forged = SignedHead(DATASET, real.publisher, 60, real.root, 1, bytes(64))
    alien = sign_head(STRANGER, DATASET, 60, real.root, 1)  # no offence: ignored (0008)
    other_dataset = sign_head(KEYS[0], b"\3" * 32, 60, real.root, 1)
    with trio.fail_after(60):
        async with (running_nodes([node_config(d, anti_entropy=3600) for d in dirs]) as nodes,
                    open_host(Identity.generate(), LOOPBACK) as hostile_host,
                    plain_pubsub(hostile_host, topic) as hostile):
            victim, other = nodes
            peer = await connect(hostile_host, victim.addrs()[0])
            await _wait_subscribed(hostile, peer, topic)
            before = await victim.store.run_sync(lambda s: s.status())
            for data in (_heads(alien), _heads(forged), _heads(other_dataset),
                         b"\x81\xa1t\xa5heads"):
                await hostile.publish(topic, data)
                await trio.sleep(0.2)

            async def banned() -> bool:
                return str(hostile_host.get_id()) in victim.gossip.stats.banned

            assert await eventually(banned, 10)
            assert victim.gossip.stats.rejected == 3 and victim.gossip.stats.unknown == 1
            assert victim.backoff.failures(str(hostile_host.get_id())) >= 1

            async def cut_off() -> bool:
                return not victim.host.get_network().get_connections(hostile_host.get_id())

            assert await eventually(cut_off, 10)
            # Nothing reached the other node, nothing was recorded.
            assert other.gossip.stats.rejected == 0
            assert other.gossip.validator.known.get(KEYS[0].public, (0, b""))[0] <= 50
            assert await victim.store.run_sync(lambda s: s.status()) == before


@pytest.mark.integration
async def test_an_equivocation_is_proven_stored_and_gossiped(tmp_path: Path) -> None:
    dirs = [make_node_dir(tmp_path, f"n{n}", records=40) for n in range(3)]
    topic = topic_for(DATASET)
    with trio.fail_after(60):
        async with (running_nodes([node_config(d, anti_entropy=3600) for d in dirs],
                                  chain=True) as nodes,
                    open_host(Identity.generate(), LOOPBACK) as rogue_host,
                    plain_pubsub(rogue_host, topic) as rogue):
            # The publisher's key signs a second history of the same length (a fork).
            fork = _log(40, variant="-rewritten").sign(KEYS[0], 5)
            held = (await nodes[0].store.heads())[KEYS[0].public]
            assert fork.length == held.length and fork.root != held.root
            peer = await connect(rogue_host, nodes[0].addrs()[0])
            await _wait_subscribed(rogue, peer, topic)
            await rogue.publish(topic, _heads(fork))

            async def everyone_has_the_proof() -> bool:
                for node in nodes:
                    proofs = await node.store.equivocations()
                    if not proofs:
                        return False
                return True

            assert await eventually(everyone_has_the_proof, 20)
            for node in nodes:
                proof = (await node.store.equivocations())[0]
                proof.verify(DATASET)
                assert proof.publisher == KEYS[0].public
