"""mDNS discovery on the local network (libp2p mDNS spec; py-libp2p 0.8.1 + zeroconf).

py-libp2p's :class:`MDNSDiscovery` runs zeroconf in its own threads and reports peers through a
process-wide event (``peerDiscovery``), calling handlers on a zeroconf thread. This wrapper:

* advertises our dialable addresses (wildcard listeners expanded, addrs.py) under a
  dataset-specific service type ``_p2p-<10 hex of the dataset id>._udp.local.`` (the spec's
  "private network" form), so nodes of other datasets on the LAN stay out of each other's way;
* hands each discovered peer back to the trio thread (``TrioToken.run_sync_soon``) into a
  bounded channel, then into the :class:`~.peers.PeerBook` (source ``mdns``);
* runs zeroconf's blocking start and stop in worker threads, and always unregisters.

Every node in one process sees every other's discoveries (the event is global); the book
ignores our own peer id, so that only helps.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from typing import Any

import trio
from libp2p.discovery.events.peerDiscovery import peerDiscovery
from libp2p.discovery.mdns.mdns import MDNSDiscovery

from .addrs import dialable_addrs
from .peers import PeerBook

__all__ = ["MdnsDiscovery", "service_type_for"]

log = logging.getLogger(__name__)


def service_type_for(dataset_id: bytes) -> str:
    # DNS-SD service names are at most 15 bytes (RFC 6763 §7.2): "p2p-" + 10 hex digits.
    return f"_p2p-{dataset_id.hex()[:10]}._udp.local."


class MdnsDiscovery:
    def __init__(self, host: Any, book: PeerBook, dataset_id: bytes, *,
                 on_found: Callable[[], None] | None = None) -> None:
        self.host = host
        self.book = book
        self.dataset_id = dataset_id
        self.on_found = on_found
        self.found = 0

    async def run(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        token = trio.lowlevel.current_trio_token()
        send, receive = trio.open_memory_channel[list[str]](64)

        def deliver(addrs: list[str]) -> None:
            with contextlib.suppress(trio.WouldBlock, trio.ClosedResourceError):
                send.send_nowait(addrs)  # a full queue: the next announcement comes soon

        def handler(info: Any) -> None:  # on a zeroconf thread
            addrs = [f"{a}/p2p/{info.peer_id}" for a in info.addrs]
            with contextlib.suppress(trio.RunFinishedError):
                token.run_sync_soon(deliver, addrs)

        addrs = [a.rsplit("/p2p/", 1)[0] for a in dialable_addrs(self.host)
                 if not a.startswith("/ip4/127.")]
        port = int(addrs[0].rsplit("/tcp/", 1)[1]) if addrs else 0
        mdns = await trio.to_thread.run_sync(lambda: MDNSDiscovery(
            self.host.get_network(), port=port, listen_addrs=addrs,
            service_type=service_type_for(self.dataset_id)))
        peerDiscovery.register_peer_discovered_handler(handler)
        try:
            await trio.to_thread.run_sync(mdns.broadcaster.register)
            task_status.started(self)
            async with receive:
                async for found in receive:
                    if self.book.add_many(found, "mdns"):
                        self.found += 1
                        if self.on_found is not None:
                            self.on_found()
        finally:
            peerDiscovery.unregister_peer_discovered_handler(handler)
            with trio.CancelScope(shield=True), trio.move_on_after(5):
                # trio-stubs (via trio-typing) predate ``abandon_on_cancel``; trio 0.35 has it.
                await trio.to_thread.run_sync(  # type: ignore[call-arg]
                    _stop, mdns, abandon_on_cancel=True)


def _stop(mdns: MDNSDiscovery) -> None:
    try:
        mdns.stop()
    except Exception:
        log.debug("mDNS stop failed", exc_info=True)
