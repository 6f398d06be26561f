"""The gateway's two languages: choosing one, and every text a page shows (design §7).

Russian is the default: the data is Russian and most readers are. ``?lang=`` wins, then the
``Accept-Language`` header (RFC 9110 §12.5.4, q-values honoured), then Russian. Texts are
``(ru, en)`` pairs looked up by key; a missing key is our bug and fails loudly in tests.
"""

from __future__ import annotations

from collections.abc import Mapping

from ..field_labels import FIELD_LABELS

__all__ = [
    "FIELD_LABELS",
    "KIND_NAMES",
    "LANGS",
    "STATUS_NAMES",
    "TEXTS",
    "field_label",
    "negotiate",
    "text",
]

LANGS = ("ru", "en")
DEFAULT_LANG = "ru"


def negotiate(param: str | None, accept_language: str | None) -> str:
    """``ru`` or ``en`` for this request."""
    if param in LANGS:
        return param
    best, best_q = DEFAULT_LANG, 0.0
    for part in (accept_language or "").split(",")[:20]:
        tag, _, params = part.strip().partition(";")
        q = 1.0
        params = params.strip()
        if params.startswith("q="):
            try:
                q = float(params[2:])
            except ValueError:
                continue
        primary = tag.strip().lower().split("-")[0]
        if primary in LANGS and q > best_q:
            best, best_q = primary, q
    return best


def _pick(pair: tuple[str, str], lang: str) -> str:
    return pair[0] if lang == "ru" else pair[1]


TEXTS: dict[str, tuple[str, str]] = {
    "site": ("Samizdat: база данных жертв политического террора",
             "Samizdat: victims of political terror"),
    "skip": ("Перейти к содержанию", "Skip to content"),
    "nav.search": ("Поиск", "Search"),
    "nav.lang": ("Язык", "Language"),
    "nav.api": ("API для программ", "API for programs"),
    "search.title": ("Поиск по именам", "Search by name"),
    "search.intro": ("Фамилия, имя, отчество — кириллицей или латиницей, в любом порядке "
                     "и в любой транслитерации; можно добавить год рождения.",
                     "Surname, given name, patronymic — in Cyrillic or Latin letters, any "
                     "order, any romanisation; you may add a year of birth."),
    "search.q": ("Имя", "Name"),
    "search.q.hint": ("Например: Иванов Пётр или Ivanov Petr 1889",
                      "For example: Ivanov Petr or Иванов Пётр 1889"),
    "search.year": ("Год рождения", "Year of birth"),
    "search.tolerance": ("Точность года", "Year tolerance"),
    "search.tolerance.exact": ("точно", "exact"),
    "search.place": ("Место или регион", "Place or region"),
    "search.kind": ("Приговор", "Sentence"),
    "search.kind.any": ("любой", "any"),
    "search.retracted": ("Показывать отозванные записи", "Include retracted records"),
    "search.submit": ("Найти", "Search"),
    "search.more_filters": ("Уточнить поиск", "More filters"),
    "search.results": ("Результаты", "Results"),
    "search.range": ("Записи {first}–{last}", "Records {first}–{last}"),
    "search.none": ("Ничего не найдено. Попробуйте другое написание или уберите фильтры.",
                    "Nothing found. Try another spelling or remove filters."),
    "search.incomplete": ("Запрос слишком общий: показаны лучшие из просмотренных записей. "
                          "Уточните его, чтобы увидеть все.",
                          "The query is broad: these are the best of the records examined. "
                          "Narrow it to see all."),
    "search.ignored": ("Не учтены слова: {words}", "Words not used: {words}"),
    "search.prev": ("← Предыдущие", "← Previous"),
    "search.next": ("Следующие →", "Next →"),
    "search.pages": ("Страницы результатов", "Result pages"),
    "hit.born": ("род.", "b."),
    "hit.source": ("Источник", "Source"),
    "hit.by": ("Публикатор", "Publisher"),
    "retracted": ("Отозвана", "Retracted"),
    "record.fields": ("Сведения", "Details"),
    "record.summary": ("Кратко", "Summary"),
    "record.no_body": ("Текст этой версии удалён или недоступен на этом узле.",
                       "The text of this version was erased or is not held by this node."),
    "record.retracted.title": ("Запись отозвана", "This record was retracted"),
    "record.retracted.text": ("Публикатор отозвал запись. Она не показывается в обычном "
                              "поиске, но её история сохранена.",
                              "The publisher withdrew this record. It is left out of normal "
                              "searches, but its history is kept."),
    "record.retracted.other": ("Один из публикаторов отозвал свою версию этой записи:",
                               "One publisher withdrew its version of this record:"),
    "record.reason": ("Причина", "Reason"),
    "record.by": ("кем", "by"),
    "record.when": ("когда", "when"),
    "record.versions": ("Версии разных публикаторов", "Versions by different publishers"),
    "record.versions.intro": ("Публикаторы не перезаписывают данные друг друга: каждая версия "
                              "сохранена. Первой показана версия публикатора с наивысшим "
                              "приоритетом по уставу.",
                              "Publishers never overwrite each other's data: every version is "
                              "kept. The first is the version of the publisher the charter "
                              "ranks highest."),
    "record.field": ("Поле", "Field"),
    "record.differs": ("отличается", "differs"),
    "record.history": ("История изменений", "History of changes"),
    "record.history.intro": ("Каждая запись журнала, касающаяся этой записи, по порядку.",
                             "Every log entry about this record, in order."),
    "record.history.changed": ("Изменено", "Changed"),
    "record.history.first": ("Первая версия", "First version"),
    "history.position": ("№ в журнале", "Log position"),
    "history.kind": ("Действие", "Action"),
    "history.status": ("Состояние", "Status"),
    "history.time": ("Время публикатора", "Publisher's time"),
    "history.details": ("Подробности", "Details"),
    "history.more": ("Показаны первые {n} записей истории.", "The first {n} history entries "
                     "are shown."),
    "kind.put": ("версия", "version"),
    "kind.retract": ("отзыв", "retraction"),
    "kind.erase": ("удаление текста", "erasure of text"),
    "verify.title": ("Проверка подлинности", "Authenticity"),
    "verify.ok": ("Проверено", "Verified"),
    "verify.failed": ("Проверка НЕ пройдена", "Verification FAILED"),
    "verify.signed_by": ("Подписано публикатором «{name}»", "Signed by the publisher “{name}”"),
    "verify.detail": ("Запись № {index} в журнале публикатора входит в его подписанное "
                      "состояние журнала длиной {length} (корень {root}, подписано {when}). "
                      "Доказательство включения из {proof} хешей проверено этим узлом при "
                      "открытии страницы.",
                      "Entry {index} of the publisher's log is part of its signed log head of "
                      "length {length} (root {root}, signed {when}). The inclusion proof of "
                      "{proof} hashes was checked by this node when this page was served."),
    "verify.explain": ("Как это проверить самому", "How to check this yourself"),
    "verify.explain.text": (
        "Каждый публикатор ведёт журнал записей и подписывает только его «голову»: число "
        "записей и корень дерева Меркла (RFC 9162) над ними, ключом Ed25519, указанным в "
        "уставе набора данных. Доказательство включения — это цепочка хешей от заголовка "
        "записи до подписанного корня: изменение хотя бы одного байта записи или её текста "
        "меняет хеш, и проверка не проходит. Ниже приведены все данные, нужные для "
        "независимой проверки (см. docs/protocol-spec.md, §6–7, §14).",
        "Every publisher keeps a log of entries and signs only its head: the number of "
        "entries and the root of a Merkle tree (RFC 9162) over them, with an Ed25519 key "
        "named in the dataset's charter. An inclusion proof is the chain of hashes from the "
        "entry's header to that signed root: changing a single byte of the entry or its text "
        "changes a hash, and the check fails. Everything needed to check it independently is "
        "below (see docs/protocol-spec.md, §6–7, §14)."),
    "verify.key": ("Ключ публикатора", "Publisher key"),
    "verify.head": ("Подписанная голова журнала", "Signed log head"),
    "verify.header": ("Заголовок записи (msgpack)", "Entry header (msgpack)"),
    "verify.leaf": ("Хеш листа", "Leaf hash"),
    "verify.payload": ("Хеш текста", "Payload hash"),
    "verify.proof": ("Доказательство включения", "Inclusion proof"),
    "verify.signature": ("Подпись", "Signature"),
    "verify.root": ("Корень дерева Меркла", "Merkle root"),
    "verify.head.line": ("длина журнала {length}, подписана {when}",
                         "log length {length}, signed {when}"),
    "verify.json": ("Те же данные в JSON", "The same data as JSON"),
    "footer.node": ("Узел хранит {records} записей от {publishers} публикаторов.",
                    "This node holds {records} records from {publishers} publishers."),
    "footer.synthetic": ("Записи с пометкой «синтетическая» созданы для проверки и не "
                         "относятся к реальным людям.",
                         "Records marked “synthetic” are generated for testing and describe "
                         "no real person."),
    "error.title": ("Ошибка", "Error"),
    "error.notfound": ("Такой записи нет на этом узле.", "There is no such record on this "
                       "node."),
    "error.back": ("Вернуться к поиску", "Back to search"),
    "error.rate": ("Слишком много запросов. Подождите немного и повторите.",
                   "Too many requests. Wait a moment and try again."),
    "error.noroute": ("Такой страницы нет.", "There is no such page."),
    "yes": ("да", "yes"),
    "no": ("нет", "no"),
    "sex.m": ("мужской", "male"),
    "sex.f": ("женский", "female"),
}

KIND_NAMES: dict[str, tuple[str, str]] = {
    "death": ("расстрел", "death sentence"),
    "camp": ("лагерь", "camp"),
    "prison": ("тюрьма", "prison"),
    "exile": ("ссылка, высылка", "exile, deportation"),
    "labour": ("принудительные работы", "forced labour"),
    "released": ("освобождён, дело прекращено", "released, case dropped"),
    "other": ("другое", "other"),
}

STATUS_NAMES: dict[str, tuple[str, str]] = {
    "current": ("действующая", "current"),
    "superseded": ("заменена более поздней", "superseded"),
    "retracted": ("отозвана", "retracted"),
    "erase": ("удаление в силе", "erasure in effect"),
    "erase_unauthorised": ("удаление без полномочий", "erasure without authority"),
    "ignored_revoked": ("после отзыва ключа", "after the key was revoked"),
    "ignored_suspended": ("ключ приостановлен", "key suspended"),
}

# Field labels in the order a record page shows them (memorial-data.md).



def text(key: str, lang: str, **values: object) -> str:
    """The text ``key`` in ``lang``, with ``{name}`` placeholders filled."""
    out = _pick(TEXTS[key], lang)
    return out.format(**values) if values else out


def field_label(name: str, lang: str, table: Mapping[str, tuple[str, str]] = FIELD_LABELS
                ) -> str:
    pair = table.get(name)
    return name if pair is None else _pick(pair, lang)
