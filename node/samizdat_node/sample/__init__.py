"""Seeded generator of realistic SYNTHETIC victim records, and writers for JSONL and the 2007 TSV.

The records imitate Memorial's lists (docs: memorial-data.md) closely enough to exercise
import, sync and search, and are always marked ``synthetic: true``.
"""

from ..importers.memorial_tsv import record_id_for
from .generator import generate_records
from .writers import write_jsonl, write_memorial_tsv

__all__ = ["generate_records", "record_id_for", "write_jsonl", "write_memorial_tsv"]
