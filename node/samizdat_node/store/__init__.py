"""The durable replica store (design §5): SQLite in WAL mode, one writer, verified entries only.

``Store`` is the synchronous API; ``AsyncStore`` runs it in worker threads under trio.
"""

from .aio import AsyncStore
from .apply import ApplyResult
from .audit import AuditReport, Damage
from .authority import GovernanceResult
from .errors import StoreError
from .headstore import HeadOutcome
from .publish import PublishResult
from .reads import EntryRange, PublisherStatus, StoreCounts, ViewRow
from .repair import RepairEntry, RepairResult
from .store import Store

__all__ = [
    "ApplyResult",
    "AsyncStore",
    "AuditReport",
    "Damage",
    "EntryRange",
    "GovernanceResult",
    "HeadOutcome",
    "PublishResult",
    "PublisherStatus",
    "RepairEntry",
    "RepairResult",
    "Store",
    "StoreCounts",
    "StoreError",
    "ViewRow",
]
