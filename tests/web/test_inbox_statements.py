"""A page of the inbox costs the same number of queries whether it shows 2 cards or 39 (issue 16): each
card's deadline labels (its request's process version) and the need-to-know check of a task the reader
may not do are asked once per page, never once per card; and rendering a card costs the template no filter
and no URL building (its values come worked out, webapp.inbox.Card). Runs on SQLite and PostgreSQL."""

from __future__ import annotations

import functools

from werkzeug.routing import MapAdapter

from .conftest import insert_open_requests, record_call, selects_sent, task_ids


def _selects(client, url: str, db_url: str) -> tuple[int, int]:
    """(SELECTs sent while serving ``url``, cards on the page), after one warm-up request."""
    assert client.get(url).status_code == 200
    with selects_sent(db_url) as seen:
        res = client.get(url)
    assert res.status_code == 200
    return len(seen), len(task_ids(res.get_data(as_text=True)))


def test_an_inbox_page_sends_as_many_queries_for_forty_cards_as_for_two(db_url, client_for):
    assistant, supervisor = client_for("assistant"), client_for("cs_supervisor")
    real = record_call(assistant)
    insert_open_requests(real, 2)
    few = {"mine": _selects(assistant, "/inbox", db_url), "all": _selects(supervisor, "/inbox?scope=all", db_url)}
    insert_open_requests(real, 37)
    many = {"mine": _selects(assistant, "/inbox", db_url), "all": _selects(supervisor, "/inbox?scope=all", db_url)}
    for scope in ("mine", "all"):
        (few_selects, few_cards), (many_selects, many_cards) = few[scope], many[scope]
        assert few_cards >= 2 and many_cards == few_cards + 37, (scope, few_cards, many_cards)
        assert many_selects == few_selects, (scope, few_selects, many_selects)



def _template_work(client, url: str, calls: dict) -> tuple[int, int, int]:
    """(template filter calls, URLs built, cards) while serving ``url``, after one warm-up request;
    ``calls["filters"]`` is counted by the app's wrapped filters."""
    assert client.get(url).status_code == 200
    calls.update(filters=0, urls=0)
    build = MapAdapter.build

    def counted_build(*args, **kwargs):
        calls["urls"] += 1
        return build(*args, **kwargs)

    MapAdapter.build = counted_build
    try:
        res = client.get(url)
    finally:
        MapAdapter.build = build
    assert res.status_code == 200
    return calls["filters"], calls["urls"], len(task_ids(res.get_data(as_text=True)))


def test_an_inbox_card_costs_the_template_no_filter_and_no_link_building(db_url, app, client_for):
    """Each card's values are worked out once in Python (webapp.inbox.Card) and its links around one
    url_for per kind (webapp.links): the template applies no filter and builds no URL per card."""
    calls = {"filters": 0, "urls": 0}

    def counting(fn):
        @functools.wraps(fn)  # keeps Jinja's pass_environment / pass_context mark
        def wrapped(*args, **kwargs):
            calls["filters"] += 1
            return fn(*args, **kwargs)
        return wrapped

    for name, fn in list(app.jinja_env.filters.items()):  # before the inbox's templates are compiled
        app.jinja_env.filters[name] = counting(fn)
    assistant, supervisor = client_for("assistant"), client_for("cs_supervisor")
    real = record_call(assistant)
    insert_open_requests(real, 2)
    few = {"mine": _template_work(assistant, "/inbox", calls),
           "all": _template_work(supervisor, "/inbox?scope=all", calls)}
    insert_open_requests(real, 37)
    many = {"mine": _template_work(assistant, "/inbox", calls),
            "all": _template_work(supervisor, "/inbox?scope=all", calls)}
    for scope in ("mine", "all"):
        (few_filters, few_urls, few_cards), (many_filters, many_urls, many_cards) = few[scope], many[scope]
        assert many_cards == few_cards + 37, (scope, few_cards, many_cards)
        assert (many_filters, many_urls) == (few_filters, few_urls), (scope, few[scope], many[scope])
