"""Kademlia DHT discovery: mirrors provide the dataset id, nodes find other mirrors (design §4).

Runs py-libp2p 0.8.1's :class:`KadDHT` in server mode. Every ``interval`` seconds the node
adds its connected peers to the routing table, provides the dataset key and looks for other
providers; their addresses go to the :class:`~.peers.PeerBook` (source ``dht``).

The key is the sha2-256 multihash of ``"samizdat/dataset/" || dataset_id``, hex-encoded (the
form ``KadDHT.provide`` accepts), so the DHT sees a well-formed content key.

Workaround (0.8.1): ``ProviderStore.find_providers`` returns the *local* provider records as
soon as there are any, without asking the network; after our own ``provide`` there always is
one (ourselves), so a node that is not among the key's k closest peers (which receive every
ADD_PROVIDER) would only ever find itself. The lookup therefore sets the local records aside,
asks the network, and puts them back (docs/decisions/0004-sync-wire-and-policy.md §5).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from typing import Any

import trio
from libp2p.kad_dht.kad_dht import DHTMode, KadDHT
from libp2p.tools.anyio_service import background_trio_service

from .peers import PeerBook

__all__ = ["DhtDiscovery", "dataset_key"]

log = logging.getLogger(__name__)


def dataset_key(dataset_id: bytes) -> str:
    digest = hashlib.sha256(b"samizdat/dataset/" + dataset_id).digest()
    return (b"\x12\x20" + digest).hex()


class DhtDiscovery:
    def __init__(self, host: Any, book: PeerBook, dataset_id: bytes, *, interval: float = 30.0,
                 on_found: Callable[[], None] | None = None, query_timeout: float = 20.0) -> None:
        self.host = host
        self.book = book
        self.key = dataset_key(dataset_id)
        self.interval = interval
        self.on_found = on_found
        self.query_timeout = query_timeout
        self.dht: KadDHT | None = None
        self.rounds = 0
        self.providers = 0

    async def run(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        dht = KadDHT(self.host, DHTMode.SERVER, enable_random_walk=False)
        async with background_trio_service(dht):
            self.dht = dht
            task_status.started(self)
            try:
                while True:
                    with trio.move_on_after(self.query_timeout):
                        await self.round(dht)
                    await trio.sleep(self.interval)
            finally:
                self.dht = None

    async def round(self, dht: KadDHT) -> list[str]:
        """Refresh the routing table, provide the key, find providers; returns new peers."""
        self.rounds += 1
        for peer_id in list(self.host.get_network().connections):
            try:
                await dht.add_peer(peer_id)
            except Exception:
                log.debug("DHT: cannot add %s", peer_id, exc_info=True)
        try:
            await dht.provide(self.key)
            found = await self._find(dht)
        except Exception:
            log.info("DHT round failed", exc_info=True)
            return []
        addrs = [f"{str(a).split('/p2p/')[0]}/p2p/{info.peer_id}"
                 for info in found for a in info.addrs]
        new = self.book.add_many(addrs, "dht")
        self.providers = len({str(info.peer_id) for info in found})
        if new and self.on_found is not None:
            self.on_found()
        return new

    async def _find(self, dht: KadDHT) -> list[Any]:
        store = dht.provider_store
        raw = bytes.fromhex(self.key)
        local = store.providers.pop(raw, None)  # see the module docstring
        try:
            await dht.find_providers(self.key, count=20)  # records what it finds locally
        finally:
            if local is not None:
                merged = store.providers.setdefault(raw, {})
                for peer, record in local.items():
                    merged.setdefault(peer, record)
        me = self.host.get_id()
        # Local records: what the network answered, and what other mirrors announced to us.
        return [info for info in store.get_providers(raw) if info.peer_id != me]
