"""Searching from the browser (#21): the top bar's box, whose dropdown (`/search/suggest`,
an htmx fragment) shows the best records as the person types, grouped by object; and the
`/search` page with every result, grouped and counted by object, and a filter by object.

Both call the one search service (`rt.search`), so a person only ever finds records they
may read, by words in fields they may see. Snippets come from the service as escaped HTML
with the words found in `<mark>`; they are shown as they are, never built or escaped here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse
from markupsafe import Markup

from tessera.auth.actor import Actor
from tessera.errors import TesseraError
from tessera.meta.model import ObjectDef
from tessera.requests import deps
from tessera.runtime.platform import Platform
from tessera.web.pages import render
from tessera.web.templates import templates

router = APIRouter(include_in_schema=False)

#: Records read for the dropdown, and shown in it per object.
SUGGESTED = 30
PER_OBJECT = 5
#: Records read for the /search page (the service's most).
PAGE_RESULTS = 100
#: A search box's text ending in a plain word (the one being typed).
_LAST_WORD = re.compile(r'(?:^|\s)[^\s"*-][^\s"*]*$')


@dataclass
class Found:
    """One record found, as the pages show it."""

    object: str
    id: int
    title: str
    snippet: Markup | None

    @property
    def href(self) -> str:
        return f"/app/{self.object}/{self.id}"

    @property
    def heading(self) -> Markup:
        """The title, with the words found marked when the snippet is only the title."""
        return self.snippet if self.snippet is not None and self.snippet.striptags() == " ".join(self.title.split()) \
            else Markup.escape(self.title)

    @property
    def passage(self) -> Markup | None:
        """The snippet shown under the title (none when it would only repeat the title)."""
        return None if self.snippet is None or self.heading is self.snippet else self.snippet


@dataclass
class Group:
    """The records found of one object: its plural label as the heading, how many."""

    object: str
    label: str
    found: list[Found] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.found)


def grouped(results: list[dict[str, Any]], objects: list[ObjectDef]) -> list[Group]:
    """The service's results (best first, across objects) in groups by object, each group
    where its best record is, its records in the service's order."""
    plural = {o.api_name: str(o.plural_label) for o in objects}
    groups: dict[str, Group] = {}
    for result in results:
        name = str(result["object"])
        group = groups.get(name)
        if group is None:
            group = groups[name] = Group(name, plural.get(name, str(result["object_label"])))
        # The snippet is the service's escaped HTML with <mark>s: shown as it is.
        group.found.append(Found(name, int(result["id"]), str(result["title"]),
                                 Markup(result["snippet"]) if result.get("snippet") else None))
    return list(groups.values())


def unfinished(text: str) -> str | None:
    """`text` with its last word as a prefix (`acm` → `acm*`), when it ends in a plain word
    still being typed (not a phrase, an exclusion, a prefix already, or a space); else None."""
    return text + "*" if _LAST_WORD.search(text) else None


def _looked_up(rt: Platform, me: Actor, text: str, objects: list[str] | None, limit: int,
               typing: bool) -> tuple[dict[str, Any], str | None, bool]:
    """The service's answer, or an empty one and the message of a refusal (never a 500),
    and whether the last word was taken as the start of a word. `typing` (the dropdown):
    the last word is a prefix first, as typed if that finds nothing (a misspelt word is then
    corrected); otherwise as typed first, as a prefix if that finds nothing."""
    empty: dict[str, Any] = {"results": [], "corrected": None, "incomplete": []}
    if not text.strip():
        return empty, None, False
    started = unfinished(text)
    tries = [(text, False)]
    if started is not None:
        tries = [(started, True), (text, False)] if typing else [(text, False), (started, True)]
    try:
        for words, as_prefix in tries:
            answer = rt.search.search(me, words, objects=objects, limit=limit)
            if answer["results"]:
                return answer, None, as_prefix
        return answer, None, False
    except TesseraError as problem:
        if problem.status == 401:
            raise
        return empty, problem.detail or "; ".join(p.message for p in problem.errors), False


def _still_indexing(objects: list[ObjectDef], names: list[str]) -> list[str]:
    """The plural labels of the objects whose index is still being built."""
    plural = {o.api_name: str(o.plural_label) for o in objects}
    return [plural.get(n, n) for n in names]


@router.get("/search/suggest", response_class=HTMLResponse)
def suggest(request: Request, me: Actor = Depends(deps.actor), rt: Platform = Depends(deps.runtime)) -> HTMLResponse:
    """The top bar's dropdown as the person types: up to five records per object."""
    text = request.query_params.get("q", "")
    answer, error, _ = _looked_up(rt, me, text, None, SUGGESTED, typing=True)
    objects = rt.search.searchable_objects(me) if answer["results"] or answer["incomplete"] else []
    groups = grouped(answer["results"], objects)
    for group in groups:
        group.found = group.found[:PER_OBJECT]
    return templates().TemplateResponse(request, "search/_suggestions.html", {
        "q": text.strip(), "groups": groups, "corrected": answer["corrected"], "error": error,
        "incomplete": _still_indexing(objects, answer["incomplete"])})


@router.get("/search", response_class=HTMLResponse)
def search_page(request: Request, me: Actor = Depends(deps.actor),
                rt: Platform = Depends(deps.runtime)) -> HTMLResponse:
    """Every record found (the best hundred), grouped by object with counts; `object=`
    narrows the search to one object."""
    text = request.query_params.get("q", "").strip()
    chosen = request.query_params.get("object", "").strip() or None
    objects = rt.search.searchable_objects(me)
    answer, error, started = _looked_up(rt, me, text, [chosen] if chosen else None, PAGE_RESULTS, typing=False)
    groups = grouped(answer["results"], objects)
    counts = {g.object: g.count for g in groups}
    return render(request, "search/page.html", me=me, q=text, chosen=chosen, objects=objects, groups=groups,
                  counts=counts, corrected=answer["corrected"], error=error,
                  incomplete=_still_indexing(objects, answer["incomplete"]),
                  capped=len(answer["results"]) >= PAGE_RESULTS, started=started,
                  chosen_label=next((str(o.plural_label) for o in objects if o.api_name == chosen), chosen))
