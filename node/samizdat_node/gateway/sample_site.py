"""A small SYNTHETIC dataset that shows everything a record page can show (for trying the
gateway, its tests and its browser test).

Two publishers under one charter; ``records`` generated bodies (:mod:`samizdat_node.sample`)
and two featured records: one with a month-only arrest date ("в мае 1939 г."), corrected once
by its publisher and given an alternative version by the second publisher; another retracted
with a reason. Keys come from fixed seeds: this is demonstration data, never a real dataset.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from samizdat_node.sample import generate_records, record_id_for
from samizdat_node.store import Store
from samizdat_protocol.charter import Charter, PublisherGrant, SignedCharter
from samizdat_protocol.schema import SCHEMA_ID
from samizdat_protocol.signing import SigningKey

__all__ = ["FEATURED", "RETRACTED", "SampleSite", "build_sample_store", "sample_charter"]

FOUNDER = SigningKey.from_seed(b"samizdat-sample-founder-seed-000")
FIRST = SigningKey.from_seed(b"samizdat-sample-publisher-one-00")
SECOND = SigningKey.from_seed(b"samizdat-sample-publisher-two-00")
FEATURED = "sample:featured-1"
RETRACTED = "sample:retracted-1"
START_MS = 1_700_000_000_000

_FEATURED_BODY: dict[str, Any] = {
    "surname": "Кожевников", "name": "Пётр", "patronymic": "Семёнович", "sex": "m",
    "birth": "1899", "birth_place": "Тверская губ., Кашинский у., д. Овсяники",
    "nation": "русский", "occupation": "счетовод артели «Красный путь»",
    "live_place": "г. Калинин", "arrest_date": "1939-05", "arrest_organ": "УНКВД по "
    "Калининской обл.", "process_date": "1939-11-02", "judicial_organ": "ОСО при НКВД СССР",
    "criminal_article": "58-10", "sentence": "8 лет ИТЛ", "executed": False,
    "death_date": "1943", "death_place": "Севвостлаг",
    "source": "Книга памяти Тверской обл. (синтетический образец)",
    "source_id": "sample-1", "synthetic": True,
}  # fmt: skip
_CORRECTION = {"rehabilitation_date": "1957-04", "rehabilitation_organ": "Калининский "
               "областной суд", "rehabilitation_reason": "за отсутствием состава преступления"}
_ALTERNATIVE = {"birth_place": "Тверская губ., Кашинский уезд, дер. Овсяники",
                "source": "Книга памяти Калининской обл., т. 2 (синтетический образец)",
                "death_date": "1943-02"}
_RETRACTED_BODY: dict[str, Any] = {
    "surname": "Кожевников", "name": "Пётр", "sex": "m", "birth": "1899",
    "arrest_date": "1939", "source": "Список УНКВД (синтетический образец)",
    "source_id": "sample-2", "synthetic": True,
}  # fmt: skip
RETRACTION_REASON = "Дубликат записи sample:featured-1 (тот же человек)"


@dataclass(frozen=True)
class SampleSite:
    charter: SignedCharter
    featured: str
    retracted: str
    records: int  # records in the store


def sample_charter() -> SignedCharter:
    charter = Charter(
        name="Жертвы политического террора в СССР (синтетический образец)",
        schema=SCHEMA_ID, founders=(FOUNDER.public,), threshold=1,
        publishers=(PublisherGrant(FIRST.public, "Мемориал (образец)"),
                    PublisherGrant(SECOND.public, "Региональный архив (образец)")),
        created=START_MS)
    return SignedCharter(charter).sign(FOUNDER)


def build_sample_store(path: str | Path, records: int = 300, seed: int = 1937) -> SampleSite:
    """Create a store at ``path`` holding the sample (an existing sample store is completed:
    publishing is idempotent)."""
    signed = sample_charter()
    bodies = [(record_id_for(b), b) for b in generate_records(records, seed)]
    bodies += [(FEATURED, dict(_FEATURED_BODY)), (RETRACTED, dict(_RETRACTED_BODY))]
    with Store.create(path, signed, clock=lambda: START_MS) as store:
        store.publish(FIRST, bodies, START_MS, batch_size=5_000)
        store.correct(FIRST, FEATURED, {**_FEATURED_BODY, **_CORRECTION}, START_MS + 86_400_000)
        store.correct(SECOND, FEATURED, {**_FEATURED_BODY, **_ALTERNATIVE},
                      START_MS + 2 * 86_400_000)
        view = store.record(RETRACTED)
        if view is not None and not view.retracted:
            store.retract(FIRST, RETRACTED, RETRACTION_REASON, START_MS + 3 * 86_400_000)
        held = store.counts().records
    return SampleSite(signed, FEATURED, RETRACTED, held)
