"""The HTML pages: search and record in two languages, escaping, accessibility, no outside
resources; and the pure parts they rest on (language choice, dates, token buckets)."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import quote, urlencode

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from samizdat_node.gateway import GatewayApp, RateLimit, TokenBuckets
from samizdat_node.gateway.i18n import LANGS, TEXTS, negotiate
from samizdat_node.gateway.present import biography, changes, render_date
from samizdat_node.gateway.sample_site import (
    FEATURED,
    FIRST,
    RETRACTED,
    RETRACTION_REASON,
    build_sample_store,
)
from samizdat_node.gateway.testing import AsgiResponse, asgi_request
from samizdat_node.store import AsyncStore, Store
from samizdat_protocol.partial_dates import PartialDate


@pytest.fixture(scope="module")
def sample_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("pages") / "store.sqlite"
    build_sample_store(path, 200)
    with Store.open(path) as store:  # a record whose text tries to inject markup
        store.publish(FIRST, [("sample:hostile", {
            "surname": "Злой<script>alert(1)</script>", "name": "\"><img src=x>",
            "source": "</title><b>bold</b>", "source_url": "javascript:alert(1)",
        })], 1_800_000_000_000)
    return path


@pytest.fixture
async def app(sample_path: Path) -> AsyncIterator[GatewayApp]:
    async with await AsyncStore.open(sample_path) as store:
        yield GatewayApp(store)


async def page(app: GatewayApp, target: str, status: int = 200,
               lang: str | None = None) -> AsgiResponse:
    headers = [("accept-language", lang)] if lang else []
    resp = await asgi_request(app, target, headers=headers)
    assert resp.status == status, resp.text[:500]
    assert resp.headers["content-type"] == "text/html; charset=utf-8"
    Structure.check(resp.text)
    return resp


class Structure(HTMLParser):
    """Checks of every page: one h1, a main landmark, lang set, labels for inputs, and only
    this node's own resources (no script at all)."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))

    @classmethod
    def check(cls, html: str) -> None:
        parser = cls()
        parser.feed(html)
        tags = parser.tags
        names = [t for t, _ in tags]
        assert names.count("h1") == 1 and names.count("main") == 1
        assert "script" not in names and "iframe" not in names
        html_attrs = dict(tags)["html"]
        assert html_attrs.get("lang") in LANGS
        labels = {a.get("for") for t, a in tags if t == "label"}
        for tag, attrs in tags:
            if tag in ("input", "select") and attrs.get("type") != "hidden":
                assert attrs.get("id") in labels, f"{tag} {attrs} has no label"
            if tag in ("link", "img", "script", "source"):
                url = attrs.get("href") or attrs.get("src") or ""
                assert url.startswith("/") and not url.startswith("//"), url


async def test_search_by_a_latin_name_in_russian_by_default(app: GatewayApp) -> None:
    resp = await page(app, "/?" + urlencode({"q": "Kozhevnikov Petr"}))
    assert '<html lang="ru">' in resp.text
    first = re.search(r'<li class="hit[^"]*">\s*<h3><a href="([^"]+)">([^<]+)</a>', resp.text)
    assert first is not None
    assert first.group(2) == "Кожевников Пётр Семёнович"
    assert first.group(1) == f"/records/{FEATURED}?lang=ru"
    assert "Мемориал (образец)" in resp.text and "Найти" in resp.text


async def test_english_by_parameter_or_header(app: GatewayApp) -> None:
    by_param = await page(app, "/?lang=en&q=Kozhevnikov")
    by_header = await page(app, "/?q=Kozhevnikov", lang="en-GB,en;q=0.9,ru;q=0.5")
    for resp in (by_param, by_header):
        assert '<html lang="en">' in resp.text and "Search by name" in resp.text
    assert "Вход" not in by_param.text
    preferred = await page(app, "/", lang="en;q=0.3, ru;q=0.8")
    assert '<html lang="ru">' in preferred.text


async def test_the_language_switch_keeps_the_query(app: GatewayApp) -> None:
    resp = await page(app, "/?" + urlencode({"q": "Kozhevnikov", "place": "Калинин"}))
    links = re.findall(r'<a href="([^"]+)" lang="(\w\w)" hreflang', resp.text)
    english = dict((lang, url) for url, lang in links)["en"].replace("&amp;", "&")
    assert "lang=en" in english and "q=Kozhevnikov" in english and "place=" in english


async def test_search_paging_links(app: GatewayApp) -> None:
    resp = await page(app, "/?q=Ivanov&limit=5")
    assert 'rel="next"' in resp.text and 'rel="prev"' not in resp.text
    nxt = re.search(r'<a href="([^"]+)" rel="next"', resp.text)
    assert nxt is not None and "offset=5" in nxt.group(1)
    second = await page(app, nxt.group(1).replace("&amp;", "&"))
    assert 'rel="prev"' in second.text and 'start="6"' in second.text


async def test_a_bad_query_is_explained_on_the_form(app: GatewayApp) -> None:
    resp = await page(app, "/?q=x&birth_year=abc", status=400)
    assert 'role="alert"' in resp.text and "birth_year" in resp.text
    assert 'value="x"' in resp.text  # the form keeps what was typed


async def test_the_record_page_in_russian(app: GatewayApp) -> None:
    text = (await page(app, f"/records/{FEATURED}")).text
    assert "Кожевников Пётр Семёнович" in text
    assert "Арестован в мае 1939 г." in text  # a partial date, as people write it
    assert "май 1939 г." in text and "1939-05" not in text.split("evidence")[0]
    assert "Проверено" in text and "Подписано публикатором «Мемориал (образец)»" in text
    assert "Региональный архив (образец)" in text and "отличается" in text  # side by side
    assert "заменена более поздней" in text and "Дата реабилитации" in text  # history


async def test_the_record_page_in_english(app: GatewayApp) -> None:
    text = (await page(app, f"/records/{FEATURED}?lang=en")).text
    assert "Arrested in May 1939." in text and "Verified" in text
    assert "Signed by the publisher “Мемориал (образец)”" in text
    assert "1 May 1939" not in text  # never an invented day


async def test_the_page_embeds_the_proof_it_checked(app: GatewayApp) -> None:
    page_text = (await page(app, f"/records/{FEATURED}")).text
    api = (await asgi_request(app, f"/api/v1/records/{FEATURED}")).json()
    evidence = api["displayed"]["verification"]
    for value in (evidence["header"], evidence["root"], *evidence["path"]):
        assert value in page_text


async def test_a_retraction_is_visible_with_its_reason(app: GatewayApp) -> None:
    text = (await page(app, f"/records/{RETRACTED}")).text
    assert "Запись отозвана" in text and RETRACTION_REASON in text
    english = (await page(app, f"/records/{RETRACTED}?lang=en")).text
    assert "This record was retracted" in english


async def test_hostile_text_is_escaped(app: GatewayApp) -> None:
    for target in ("/records/sample:hostile", "/?q=" + quote("Злой")):
        text = (await page(app, target)).text
        assert "<script>" not in text and "<img" not in text and "<b>bold" not in text
    record = (await page(app, "/records/sample:hostile")).text
    assert "&lt;script&gt;" in record
    assert 'href="javascript:' not in record


async def test_unknown_pages_and_records(app: GatewayApp) -> None:
    missing = await page(app, "/records/nobody:1?lang=en", status=404)
    assert "There is no such record" in missing.text
    await page(app, "/nowhere/at/all", status=404)


async def test_static_files_are_cached_and_revalidated(app: GatewayApp) -> None:
    css = await asgi_request(app, "/static/style.css")
    assert css.status == 200 and css.headers["content-type"].startswith("text/css")
    assert "@import" not in css.text and "url(" not in css.text  # nothing from elsewhere
    again = await asgi_request(app, "/static/style.css",
                               headers=[("if-none-match", css.headers["etag"])])
    assert again.status == 304 and again.body == b""
    assert (await asgi_request(app, "/static/../openapi.json")).status == 404


def test_every_text_exists_in_both_languages() -> None:
    for key, (ru, en) in TEXTS.items():
        assert ru.strip() and en.strip(), key
        assert sorted(re.findall(r"{\w+}", ru)) == sorted(re.findall(r"{\w+}", en)), key


@given(st.one_of(st.none(), st.text(max_size=10)), st.one_of(st.none(), st.text(max_size=60)))
@example("en", "ru")
@example(None, "ru;q=0.1, en;q=0.2")
def test_negotiation_always_picks_a_served_language(param: str | None,
                                                    accept: str | None) -> None:
    lang = negotiate(param, accept)
    assert lang in LANGS
    if param in LANGS:
        assert lang == param


dates = st.builds(PartialDate, st.integers(1800, 2000),
                  st.one_of(st.none(), st.integers(1, 12)), st.none()) | st.builds(
    lambda y, m, d: PartialDate(y, m, d), st.integers(1800, 2000), st.integers(1, 12),
    st.integers(1, 28))


@given(dates)
@example(PartialDate(1939, 5))
def test_a_date_is_never_shown_more_precise_than_it_is(date: PartialDate) -> None:
    for lang in LANGS:
        for event in (False, True):
            shown = render_date(date.iso(), lang, event=event)
            numbers = [int(n) for n in re.findall(r"\d+", shown)]
            expected = [date.year] if date.day is None else [date.day, date.year]
            assert numbers == expected, shown
    if date.precision == "month":
        assert render_date(date.iso(), "ru", event=True).startswith("в ")


def test_biography_and_changes() -> None:
    body = {"sex": "f", "birth": "1901", "arrest_date": "1937-08", "executed": True,
            "death_date": "1937-10-12", "death_place": "Бутово"}
    assert biography(body, "ru") == ["Родилась в 1901 г.", "Арестована в августе 1937 г.",
                                     "Расстреляна 12 октября 1937 г., Бутово."]
    assert biography(body, "en")[1] == "Arrested in August 1937."
    assert changes({"birth": "1901"}, {"birth": "1901-03", "sex": "f"}, "ru") == [
        ("sex", "", "женский"), ("birth", "1901 г.", "март 1901 г.")]


@given(st.lists(st.floats(0, 2), max_size=80))
@example([0.0] * 6)
def test_one_client_gets_at_most_burst_plus_refill(gaps: list[float]) -> None:
    limit = RateLimit(rate=2.0, burst=3.0)
    buckets = TokenBuckets(limit)
    now, allowed = 0.0, []
    for gap in gaps:
        now += gap
        wait = buckets.take("a", now)
        if wait == 0.0:
            allowed.append(now)
    for i, start in enumerate(allowed):
        for j in range(i, len(allowed)):
            assert j - i + 1 <= limit.burst + limit.rate * (allowed[j] - start) + 1e-9


@given(st.floats(0, 100), st.integers(1, 10))
@example(22.921174145502707, 5)  # floating point once fell an ulp short of the promised wait
def test_a_refused_client_is_allowed_after_the_wait_it_was_told(start: float,
                                                                 cost: int) -> None:
    buckets = TokenBuckets(RateLimit(rate=0.5, burst=10.0))
    while (wait := buckets.take("a", start, cost)) == 0.0:
        pass
    assert buckets.take("a", start + wait, cost) == 0.0


def test_the_bucket_table_stays_bounded() -> None:
    buckets = TokenBuckets(RateLimit(rate=1.0, burst=1.0, max_clients=100))
    for n in range(10_000):
        buckets.take(f"10.0.{n >> 8}.{n & 255}", 0.0)
    assert len(buckets) == 100
    assert buckets.take("10.0.39.15", 0.0) > 0  # recent clients are still remembered



async def test_record_page_shows_each_publishers_standing(app: GatewayApp) -> None:
    """Issue 7: the versions carry their signing key's standing (active here), in both languages."""
    for lang, text in (("ru", "ключ действует"), ("en", "key active")):
        page_text = (await page(app, f"/records/{FEATURED}?lang={lang}")).text
        assert text in page_text
