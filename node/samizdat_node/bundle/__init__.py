"""Offline bundles (design §4.4): one file with the charter, signed heads, headers, payloads and
the proofs to verify them, for carrying a dataset (or an update of it) without a network.

- :mod:`.format`: the byte layout, :class:`BundleWriter` and the strict :class:`BundleReader`;
- :mod:`.export`: a store (or what another node lacks) to a bundle;
- :mod:`.ingest`: a bundle into a store, verified chunk by chunk;
- :mod:`.since`: another node's heads, from its ``status --json``.
"""

from .export import ExportResult, export_bundle, plan_export
from .format import BundleError, BundleReader, BundleWriter, LogRange, Manifest
from .ingest import ImportResult, LogImport, import_bundle, read_manifest
from .since import PeerHead, parse_since, read_since

__all__ = [
    "BundleError",
    "BundleReader",
    "BundleWriter",
    "ExportResult",
    "ImportResult",
    "LogImport",
    "LogRange",
    "Manifest",
    "PeerHead",
    "export_bundle",
    "import_bundle",
    "parse_since",
    "plan_export",
    "read_manifest",
    "read_since",
]
