"""Hostile peers (design §9): forged, unauthorised, tampered, truncated, oversized, garbage and
stalled input is rejected, changes nothing in the store, and the node keeps serving.

The victim is a real host with the node's sync server and its own store. A hostile *server*
is a libp2p host answering ``/samizdat/sync/1`` with a scripted sequence built from honest
data and then tampered with; the victim catches up from it. A hostile *client* sends bad bytes
to the victim's server. After each case: the victim's store is byte-for-byte unchanged
(an SQL dump), and an honest client still catches up from the victim.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest
import trio

from samizdat_node.p2p.backoff import PeerBackoff
from samizdat_node.p2p.framing import (
    FrameError,
    FrameTimeout,
    encode_prefix,
    read_frame,
    write_frame,
)
from samizdat_node.p2p.host import connect, open_host, open_stream
from samizdat_node.p2p.identity import Identity
from samizdat_node.p2p.serve import serve_protocol
from samizdat_node.store import AsyncStore, Store
from samizdat_node.sync import SYNC_PROTOCOL, SyncLimits, SyncServer, catch_up
from samizdat_node.sync.codec import MAX_FRAME, decode_payload, read_message, write_message
from samizdat_node.sync.session import PENALTY
from samizdat_protocol.heads import SignedHead, sign_head
from samizdat_protocol.wire import Chunk, Done, ErrorReply, GetRange, Hello
from tests.integration.test_sync_support import (
    CHARTER,
    KEYS,
    LOOPBACK,
    dump_tables,
    make_node_dir,
    publish,
)
from tests.node.test_store_support import STRANGER

pytestmark = pytest.mark.integration

HELD = 100  # the victim already holds this much of KEYS[0]'s log
TOTAL = 600  # the honest log the hostile peer tampers with
PUB = KEYS[0].public
LIMITS = SyncLimits(read_timeout=1.5, hello_timeout=1.5, idle_timeout=1.5)


@dataclass
class World:
    source: AsyncStore  # honest data (TOTAL entries)
    victim: AsyncStore
    victim_path: Path
    victim_host: Any
    hostile_host: Any
    honest_host: Any
    backoff: PeerBackoff


@asynccontextmanager
async def world(tmp_path: Path) -> AsyncIterator[World]:
    # Two signed heads: at HELD (the victim holds it) and at TOTAL (what the hostile peer has).
    source = await AsyncStore.open(make_node_dir(tmp_path, "src", records=HELD) / "store.sqlite")
    first = await source.entries(PUB, 0, HELD)
    await publish(source, 0, TOTAL - HELD, start=HELD)
    victim_path = tmp_path / "victim.sqlite"
    victim = AsyncStore(Store.create(victim_path, CHARTER))
    await victim.apply_batch(PUB, 0, first.headers, first.payloads, first.head)
    async with (open_host(Identity.generate(), LOOPBACK) as victim_host,
                open_host(Identity.generate(), LOOPBACK) as hostile_host,
                open_host(Identity.generate(), []) as honest_host):
        SyncServer(victim, limits=LIMITS).register(victim_host)
        yield World(source, victim, victim_path, victim_host, hostile_host, honest_host,
                    PeerBackoff())
    await source.aclose()
    await victim.aclose()


async def honest_client_still_served(w: World) -> None:
    store = AsyncStore(Store.create(w.victim_path.with_name("honest.sqlite"), CHARTER))
    peer = await connect(w.honest_host, str(w.victim_host.get_addrs()[0]))
    report = await catch_up(w.honest_host, store, peer)
    assert report.ok, report.error
    assert report.fetched == HELD
    await store.aclose()


# -- hostile servers -------------------------------------------------------------------------

Script = Callable[[World, Any], Awaitable[None]]


async def _honest_chunk(w: World, request: GetRange, count: int) -> Chunk:
    got = await w.source.entries(PUB, request.start, count, proof=True)
    return Chunk(request.request_id, request.start, tuple(got.headers), tuple(got.payloads),
                 got.head, tuple(got.proof))


async def _hello_then_get(w: World, stream: Any, heads: tuple[SignedHead, ...] | None = None,
                          ) -> GetRange:
    await read_message(stream, timeout=5)
    if heads is None:
        heads = tuple((await w.source.heads()).values())
    await write_message(stream, Hello(CHARTER.dataset_id, heads, ()), timeout=5)
    request, _ = await read_message(stream, timeout=5)
    assert isinstance(request, GetRange)
    return request


def _forge(head: SignedHead) -> SignedHead:
    sig = bytes([head.signature[0] ^ 1]) + head.signature[1:]
    return SignedHead(head.dataset_id, head.publisher, head.length, head.root, head.timestamp,
                      sig)


async def forged_head(w: World, stream: Any) -> None:
    real = (await w.source.heads())[PUB]
    request = await _hello_then_get(w, stream, (_forge(real),))
    chunk = await _honest_chunk(w, request, 200)
    await write_message(stream, replace(chunk, head=_forge(chunk.head)), timeout=5)
    await trio.sleep(5)


async def unauthorised_head(w: World, stream: Any) -> None:
    request = await _hello_then_get(w, stream)
    chunk = await _honest_chunk(w, request, 200)
    alien = sign_head(STRANGER, CHARTER.dataset_id, chunk.head.length, chunk.head.root, 1)
    await write_message(stream, replace(chunk, head=alien), timeout=5)
    await trio.sleep(5)


async def wrong_payload(w: World, stream: Any) -> None:
    request = await _hello_then_get(w, stream)
    chunk = await _honest_chunk(w, request, 200)
    payloads = (chunk.payloads[1], *chunk.payloads[1:])
    await write_message(stream, replace(chunk, payloads=payloads), timeout=5)
    await trio.sleep(5)


async def bad_proof(w: World, stream: Any) -> None:
    request = await _hello_then_get(w, stream)
    chunk = await _honest_chunk(w, request, 200)
    proof = (bytes([chunk.proof[0][0] ^ 1]) + chunk.proof[0][1:], *chunk.proof[1:])
    await write_message(stream, replace(chunk, proof=proof), timeout=5)
    await trio.sleep(5)


async def truncated_proof(w: World, stream: Any) -> None:
    request = await _hello_then_get(w, stream)
    chunk = await _honest_chunk(w, request, 200)
    await write_message(stream, replace(chunk, proof=chunk.proof[:-1]), timeout=5)
    await trio.sleep(5)


async def oversized_frame(w: World, stream: Any) -> None:
    await _hello_then_get(w, stream)
    await stream.write(encode_prefix(MAX_FRAME + 1) + b"\0" * 1024)
    await trio.sleep(5)


async def garbage(w: World, stream: Any) -> None:
    await _hello_then_get(w, stream)
    await write_frame(stream, bytes([0x00]) + os.urandom(2000), max_size=MAX_FRAME, timeout=5)
    await trio.sleep(5)


async def stalled(w: World, stream: Any) -> None:
    await _hello_then_get(w, stream)
    await trio.sleep(10)  # never answers: the victim's read deadline must fire


async def done_too_early(w: World, stream: Any) -> None:
    request = await _hello_then_get(w, stream)
    chunk = await _honest_chunk(w, request, 100)
    await write_message(stream, chunk, timeout=5)
    await write_message(stream, Done(request.request_id), timeout=5)
    await trio.sleep(5)


SERVERS: dict[str, tuple[Script, str, bool, int]] = {
    # name: (script, expected error code, penalised, entries legitimately committed first)
    "forged head": (forged_head, "signature.invalid", True, 0),
    "unauthorised head": (unauthorised_head, "sync.wrong_head", True, 0),
    "wrong payload": (wrong_payload, "payload.hash_mismatch", True, 0),
    "bad proof": (bad_proof, "range.root", True, 0),
    "truncated proof": (truncated_proof, "range.root", True, 0),
    "oversized frame": (oversized_frame, "frame.too_large", True, 0),
    "garbage bytes": (garbage, "decode.", True, 0),
    "stalled stream": (stalled, "frame.timeout", False, 0),
    # A valid chunk is kept (verified on its own); the early end is still a violation.
    "done before the promised end": (done_too_early, "sync.truncated", True, 100),
}


@pytest.mark.parametrize("name", list(SERVERS))
async def test_hostile_server_is_rejected_and_changes_nothing(tmp_path: Path, name: str) -> None:
    script, code, penalised, committed = SERVERS[name]
    with trio.fail_after(30):
        async with world(tmp_path) as w:
            before = dump_tables(w.victim_path)

            async def handler(stream: Any) -> None:
                await script(w, stream)

            serve_protocol(w.hostile_host, SYNC_PROTOCOL, handler)
            peer = await connect(w.victim_host, str(w.hostile_host.get_addrs()[0]))
            report = await catch_up(w.victim_host, w.victim, peer, limits=LIMITS,
                                    backoff=w.backoff)
            assert not report.ok
            assert report.error is not None and report.error.code.startswith(code), report.error
            assert report.penalised is penalised
            assert report.fetched == committed
            # Disconnected and backed off: no stream to it until the backoff expires.
            assert w.backoff.failures(str(peer)) == (PENALTY if penalised else 1)
            assert not w.victim_host.get_network().get_connections(peer)
            if committed:
                assert await w.victim.length(PUB) == HELD + committed
            else:
                assert dump_tables(w.victim_path) == before
            await honest_client_still_served(w)


async def test_unauthorised_heads_in_a_hello_are_never_requested(tmp_path: Path) -> None:
    with trio.fail_after(30):
        async with world(tmp_path) as w:
            before = dump_tables(w.victim_path)
            alien = sign_head(STRANGER, CHARTER.dataset_id, 5, b"\1" * 32, 1)

            async def handler(stream: Any) -> None:
                await read_message(stream, timeout=5)
                await write_message(stream, Hello(CHARTER.dataset_id, (alien,), ()), timeout=5)
                await trio.sleep(5)

            serve_protocol(w.hostile_host, SYNC_PROTOCOL, handler)
            peer = await connect(w.victim_host, str(w.hostile_host.get_addrs()[0]))
            report = await catch_up(w.victim_host, w.victim, peer, limits=LIMITS)
            assert report.ok and report.requests == 0 and report.fetched == 0
            assert dump_tables(w.victim_path) == before


# -- hostile clients -------------------------------------------------------------------------


async def _raw_stream(w: World) -> Any:
    peer = await connect(w.hostile_host, str(w.victim_host.get_addrs()[0]))
    return await open_stream(w.hostile_host, peer, [SYNC_PROTOCOL])


async def _hello(w: World, stream: Any) -> None:
    await write_message(stream, Hello(CHARTER.dataset_id, (), ()), timeout=5)
    reply, _ = await read_message(stream, timeout=5)
    assert isinstance(reply, Hello)


async def client_garbage(w: World, stream: Any) -> None:
    await stream.write(os.urandom(4000))


async def client_oversized(w: World, stream: Any) -> None:
    await stream.write(encode_prefix(MAX_FRAME + 10))


async def client_beyond_held(w: World, stream: Any) -> None:
    await _hello(w, stream)
    await write_message(stream, GetRange(1, PUB, 0, HELD + 50), timeout=5)


async def client_wrong_dataset(w: World, stream: Any) -> None:
    await write_message(stream, Hello(b"\7" * 32, (), ()), timeout=5)


async def client_silent(w: World, stream: Any) -> None:
    pass  # opens the stream and says nothing: the server's hello deadline must fire


async def client_chunk_to_server(w: World, stream: Any) -> None:
    await _hello(w, stream)
    await stream.write(encode_prefix(5) + b"\x00\x93\x01\x02\x03")


CLIENTS: dict[str, tuple[Callable[[World, Any], Awaitable[None]], str | None]] = {
    # name: (script, the error code the server replies with; None: it just resets)
    "garbage": (client_garbage, None),
    "oversized frame": (client_oversized, None),
    "range beyond what is held": (client_beyond_held, "sync.range"),
    "another dataset": (client_wrong_dataset, "sync.wrong_dataset"),
    "silent": (client_silent, None),
    "not a request": (client_chunk_to_server, "wire.not_a_message"),
}


@pytest.mark.parametrize("name", list(CLIENTS))
async def test_hostile_client_is_cut_off_and_the_server_keeps_serving(tmp_path: Path,
                                                                      name: str) -> None:
    script, code = CLIENTS[name]
    with trio.fail_after(30):
        async with world(tmp_path) as w:
            before = dump_tables(w.victim_path)
            stream = await _raw_stream(w)
            await script(w, stream)
            # The server replies with an error (or nothing) and resets, within its deadlines;
            # a read that times out instead would mean the server kept the stream open.
            replies = []
            while True:
                try:
                    frame = await read_frame(stream, MAX_FRAME, LIMITS.hello_timeout + 2)
                except FrameTimeout:
                    raise AssertionError("the server did not end the stream") from None
                except FrameError:
                    break
                replies.append(decode_payload(frame))
            errors = [r.code for r in replies if isinstance(r, ErrorReply)]
            if code is not None:
                assert len(errors) == 1 and errors[0].startswith(code), replies
            assert dump_tables(w.victim_path) == before
            await honest_client_still_served(w)
