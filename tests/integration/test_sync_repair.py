"""Repair (design §4.3): damaged entries are fetched again and proven against our own head.

The store is damaged on disk (a header and a payload overwritten), the audit names the
damage, and :func:`fetch_verified` gets the bytes back from a peer: from an honest peer every
damaged entry comes back proven; from a peer that tampers, nothing is accepted.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
import trio

from samizdat_node.p2p.host import connect, open_host
from samizdat_node.p2p.identity import Identity
from samizdat_node.p2p.serve import serve_protocol
from samizdat_node.store import AsyncStore, Store
from samizdat_node.sync import SYNC_PROTOCOL, SyncServer
from samizdat_node.sync.codec import read_message, write_message
from samizdat_node.sync.repair import damaged_indices, fetch_verified
from samizdat_protocol.wire import Chunk, Done, GetRange, Hello
from tests.integration.test_sync_support import KEYS, LOOPBACK, make_node_dir

pytestmark = pytest.mark.integration

PUB = KEYS[0].public


def _damage(path: Path) -> dict[int, tuple[bytes, bytes | None]]:
    """Overwrite entry 5's payload and entry 9's header; return the original rows."""
    conn = sqlite3.connect(path)
    try:
        rows = {idx: (bytes(h), bytes(p) if p is not None else None) for idx, h, p in
                conn.execute("SELECT idx, header, payload FROM entries WHERE idx IN (5, 9)")}
        with conn:
            conn.execute("UPDATE entries SET payload = ? WHERE idx = 5", (b"\x80",))
            conn.execute("UPDATE entries SET header = ? WHERE idx = 9", (rows[9][0][:-1] + b"!",))
    finally:
        conn.close()
    return rows


async def test_damaged_entries_come_back_proven_from_an_honest_peer(tmp_path: Path) -> None:
    good = make_node_dir(tmp_path, "good", records=40)
    bad = make_node_dir(tmp_path, "bad", records=40)
    original = _damage(bad / "store.sqlite")
    with Store.open(bad / "store.sqlite") as store:
        report = store.verify(workers=1)
    wanted = damaged_indices(report.damage)
    assert wanted == {PUB: [5, 9]}, report.damage
    with trio.fail_after(30):
        async with (open_host(Identity.generate(), LOOPBACK) as server,
                    open_host(Identity.generate(), []) as client):
            source = await AsyncStore.open(good / "store.sqlite")
            damaged = await AsyncStore.open(bad / "store.sqlite")
            SyncServer(source).register(server)
            peer = await connect(client, str(server.get_addrs()[0]))
            result = await fetch_verified(client, damaged, peer, wanted)
            assert result.error is None
            assert {i.index: (i.header, i.payload) for i in result.verified} == original
            await source.aclose()
            await damaged.aclose()


async def test_a_tampering_peer_gets_nothing_accepted(tmp_path: Path) -> None:
    good = make_node_dir(tmp_path, "good", records=40)
    bad = make_node_dir(tmp_path, "bad", records=40)
    _damage(bad / "store.sqlite")
    with Store.open(bad / "store.sqlite") as store:
        wanted = damaged_indices(store.verify(workers=1).damage)
    with trio.fail_after(30):
        async with (open_host(Identity.generate(), LOOPBACK) as server,
                    open_host(Identity.generate(), []) as client):
            source = await AsyncStore.open(good / "store.sqlite")
            damaged = await AsyncStore.open(bad / "store.sqlite")

            async def tamper(stream: Any) -> None:
                await read_message(stream, timeout=5)
                heads = tuple((await source.heads()).values())
                await write_message(stream, Hello(source.dataset_id, heads, ()), timeout=5)
                while True:
                    request, _ = await read_message(stream, timeout=5)
                    assert isinstance(request, GetRange)
                    got = await source.entries(PUB, request.start, request.end - request.start)
                    headers = tuple(h[:-1] + b"?" for h in got.headers)  # wrong bytes
                    payloads = tuple(b"\x80" if p else p for p in got.payloads)
                    await write_message(stream, Chunk(request.request_id, request.start,
                                                      headers, payloads, got.head, ()),
                                        timeout=5)
                    await write_message(stream, Done(request.request_id), timeout=5)

            serve_protocol(server, SYNC_PROTOCOL, tamper)
            peer = await connect(client, str(server.get_addrs()[0]))
            result = await fetch_verified(client, damaged, peer, wanted)
            assert result.verified == []
            await source.aclose()
            await damaged.aclose()
