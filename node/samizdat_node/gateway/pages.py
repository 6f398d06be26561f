"""The HTML pages: search and record, in Russian and English, with no scripts at all.

Templates (``templates/``) are Jinja2 with autoescaping on and undefined names as errors; every
value they show was escaped, whatever a record holds. Links carry ``lang`` so a reader's choice
sticks without a cookie. The record page draws from the same document as the JSON API
(document.py), so the page and the API never disagree.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import Any
from urllib.parse import quote, urlencode

import jinja2

from samizdat_node.light.evidence import HitEvidence, RecordEvidence, withdrawn_put
from samizdat_node.search.facets import SENTENCE_KINDS
from samizdat_node.search.model import MAX_OFFSET, SearchQueryError
from samizdat_protocol.merge import RecordView, Version

from . import present
from .document import Checked, record_json
from .http import Request, Response
from .i18n import KIND_NAMES, LANGS, STATUS_NAMES, field_label, negotiate, text
from .site import Site, search_query

__all__ = ["error_page", "lang_of", "record_page", "search_page"]

_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("samizdat_node.gateway", "templates"),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)
_HTML = "text/html; charset=utf-8"
_SEARCH_KEYS = ("q", "birth_year", "tolerance", "place", "kind", "retracted")


def lang_of(request: Request) -> str:
    return negotiate(request.arg("lang"), request.headers.get("accept-language"))


def record_url(record_id: str, lang: str) -> str:
    return f"/records/{quote(record_id, safe=':@')}?lang={lang}"


def _url(path: str, params: Mapping[str, object]) -> str:
    kept = {k: v for k, v in params.items() if v not in (None, "", False)}
    return f"{path}?{urlencode(kept)}" if kept else path


def _base(site: Site, lang: str, path: str, params: Mapping[str, object]) -> dict[str, Any]:
    """Context every page has: language, texts, language switch, footer facts."""
    return {
        "lang": lang,
        "t": partial(text, lang=lang),
        "dataset": site.dataset_name,
        "switch": [(code, name, _url(path, {**params, "lang": code}), code == lang)
                   for code, name in zip(LANGS, ("Русский", "English"), strict=True)],
        "home": _url("/", {"lang": lang}),
    }


def _render(name: str, context: Mapping[str, Any], status: int = 200) -> Response:
    body = _ENV.get_template(name).render(**context).encode("utf-8")
    return Response(status, body, _HTML, [("cache-control", "no-cache"),
                                          ("vary", "Accept-Language")])


def _hit(h: HitEvidence, names: Mapping[bytes, str], lang: str) -> dict[str, Any]:
    return {"url": record_url(h.hit.record_id, lang), "name": present.full_name(h.body),
            "years": present.years(h.body), "place": present.place(h.body),
            "source": str(h.body.get("source", "")), "publisher": names.get(h.publisher, ""),
            "retracted": h.retracted, "reason": h.retraction_reason or "",
            "synthetic": h.body.get("synthetic") is True}


async def search_page(site: Site, request: Request) -> Response:
    lang = lang_of(request)
    params = {k: request.arg(k) for k in _SEARCH_KEYS}
    ctx = _base(site, lang, "/", params)
    ctx.update(form={k: v or "" for k, v in params.items()}, error=None, hits=None,
               kinds=[(k, KIND_NAMES[k][0 if lang == "ru" else 1]) for k in SENTENCE_KINDS],
               tolerances=range(0, 6), prev_url=None, next_url=None, first=0, last=0,
               incomplete=False, ignored="")
    if any(request.arg(k) for k in ("q", "birth_year", "place", "kind")):
        try:
            query = search_query(request, site.settings.page_size)
            page, hits = await site.search(query)
        except SearchQueryError as exc:
            ctx["error"] = exc.message
            return _render("search.html", ctx, 400)
        ctx["hits"] = [_hit(h, site.names, lang) for h in hits]
        ctx["first"], ctx["last"] = query.offset + 1, query.offset + len(hits)
        ctx["incomplete"] = not page.complete
        ctx["ignored"] = ", ".join(page.ignored_terms)
        step = {**params, "lang": lang}
        if query.offset > 0:
            ctx["prev_url"] = _url("/", {**step, "offset": max(0, query.offset - query.limit)})
        if page.has_more and query.offset + query.limit <= MAX_OFFSET:
            ctx["next_url"] = _url("/", {**step, "offset": query.offset + query.limit})
    return _render("search.html", ctx)


def _fields(body: Mapping[str, Any] | None, lang: str) -> list[tuple[str, str, bool]]:
    """(label, value, is a link) for every field of a body."""
    if not body:
        return []
    out = []
    for name in present.field_order(body):
        value = present.render_value(name, body[name], lang)
        link = name == "source_url" and value.startswith(("https://", "http://"))
        out.append((field_label(name, lang), value, link))
    return out


def _columns(view: RecordView, names: Mapping[bytes, str], lang: str) -> dict[str, Any]:
    """The side-by-side table of every live version (displayed first)."""
    versions: list[Version] = [v for v in (view.displayed, *view.alternatives) if v]
    bodies = [v.body or {} for v in versions]
    fields = present.field_order({k: None for b in bodies for k in b})
    rows = []
    for name in fields:
        cells = [present.render_value(name, b[name], lang) if name in b else "" for b in bodies]
        rows.append((field_label(name, lang), cells, len(set(cells)) > 1))
    return {"publishers": [names.get(v.publisher, v.publisher.hex()[:16]) for v in versions],
            "rows": rows}


def _history(evidence: RecordEvidence, checked: Checked, names: Mapping[bytes, str],
             lang: str, limit: int) -> list[dict[str, Any]]:
    out = []
    last_body: dict[bytes, Mapping[str, Any] | None] = {}
    for item in evidence.view.history[:limit]:
        entry = item.entry
        body = checked.bodies.get((item.publisher, item.index))
        details: list[tuple[str, str, str]] = []
        first = False
        if entry.kind == "put":
            first = item.publisher not in last_body
            if not first and body is not None:
                details = [(field_label(f, lang), old, new) for f, old, new in
                           present.changes(last_body[item.publisher], body, lang)]
            last_body[item.publisher] = body
        pair = STATUS_NAMES.get(item.status, (item.status, item.status))
        out.append({"publisher": names.get(item.publisher, item.publisher.hex()[:16]),
                    "index": item.index, "kind": text(f"kind.{entry.kind}", lang),
                    "status": pair[0 if lang == "ru" else 1],
                    "time": present.timestamp(entry.timestamp), "reason": entry.reason or "",
                    "changes": details, "first": first,
                    "ok": checked.errors.get((item.publisher, item.index)) is None})
    return out


async def record_page(site: Site, request: Request, record_id: str) -> Response:
    lang = lang_of(request)
    path = f"/records/{quote(record_id, safe=':@')}"
    found = await site.record(record_id)
    if found is None:
        return error_page(site, request, 404, text("error.notfound", lang))
    evidence, checked = found
    view = evidence.view
    doc = record_json(evidence, checked, site.names)
    shown = view.displayed
    body = shown.body if shown is not None else None
    if body is None and view.retracted:  # show what was withdrawn, marked as such
        body = _withdrawn_body(evidence, checked)
    ctx = _base(site, lang, path, {})
    ctx.update(
        record_id=record_id, name=present.full_name(body) or record_id, doc=doc,
        standing=present.standings(await site.store.auth_state(), site.names, lang),
        retracted=view.retracted, verified=checked.ok,
        retractions=[{"publisher": site.names.get(r.publisher, ""), "reason": r.reason,
                      "time": present.timestamp(r.timestamp)} for r in view.retractions],
        biography=present.biography(body, lang), fields=_fields(body, lang),
        has_body=body is not None, years=present.years(body),
        versions=_columns(view, site.names, lang) if view.alternatives else None,
        history=_history(evidence, checked, site.names, lang, site.settings.max_history),
        history_total=len(view.history), max_history=site.settings.max_history,
        proof=_proof_panel(doc, lang), timestamp=present.timestamp,
        api_url=f"/api/v1/records/{quote(record_id, safe=':@')}",
        synthetic=bool(body and body.get("synthetic") is True))
    return _render("record.html", ctx)


def _withdrawn_body(evidence: RecordEvidence, checked: Checked) -> dict[str, Any] | None:
    found = withdrawn_put(evidence.view)
    return checked.bodies.get((found[0], found[1])) if found is not None else None


def _proof_panel(doc: Mapping[str, Any], lang: str) -> dict[str, Any] | None:
    """What the verification panel shows: the displayed version's (or the first
    retraction's) evidence and head."""
    subject = doc["displayed"] or (doc["retractions"][0] if doc["retractions"] else None)
    if subject is None:
        return None
    proof = subject["verification"]
    key = subject["publisher"]["key"]
    head = next((h for h in doc["heads"] if h["publisher"]["key"] == key), None)
    return {"publisher": subject["publisher"], "proof": proof, "head": head,
            "payload_hash": subject.get("payload_hash", ""), "index": subject["index"]}


def error_page(site: Site, request: Request, status: int, message: str) -> Response:
    lang = lang_of(request)
    ctx = _base(site, lang, "/", {})
    ctx.update(status=status, message=message)
    return _render("error.html", ctx, status)

