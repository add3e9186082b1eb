"""One page of a ranked list for a portal page.

Explaining a match (its reasons, summary and parts) is most of what a recommendation costs, so
a page asks the matcher for the matches up to its own last one, plus one to know whether
another page follows, not for the whole list it could page through. Only a filter the matcher
cannot apply itself (``keep``: a name search, an ask range) needs the whole ``depth`` first.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from api.matcher_service import MatcherService
from api.web.deps import page_of
from api.web.exposure import ShownLog
from matcher.matcher import Match, Matcher
from models.enums import EntityKind


def ranked_page(
    service: MatcherService,
    asker: tuple[EntityKind, int],
    target: EntityKind,
    *,
    page: int,
    per_page: int,
    depth: int,
    filters: Mapping[str, Any] | None = None,
    keep: Callable[[Match, Matcher], bool] | None = None,
    shown: ShownLog | None = None,
) -> tuple[list[Match], dict[str, int]]:
    """The matches of ``page`` and its paging; ``paging["more"]`` is 1 when the count of pages
    is not known, only that another one follows. The page's matches count as shown in
    ``shown`` (the dashboard's exposure)."""
    want = depth if keep else min(depth, page * per_page + 1)
    with service.reading() as matcher:
        try:
            found = matcher.recommend(asker[0], asker[1], target, k=want, filters=filters or None)
        except LookupError:
            found = []
        if keep:
            found = [m for m in found if keep(m, matcher)]
    paging = page_of(len(found), page, per_page)
    paging["more"] = int(not keep and len(found) == want and want < depth)
    page_matches = found[paging["offset"] : paging["offset"] + per_page]
    if shown is not None:
        shown.add(page_matches)
    return page_matches, paging
