"""Recordings search: every filter alone and in every combination, on both databases."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime

import pytest
from werkzeug.datastructures import MultiDict

from tests.fixtures.app import create_users
from tests.supervision.factories import acting_as, make_campaign, make_interaction, session
from ucmail_ext.services.supervision import recordings
from ucmail_ext.services.supervision.recordings import RecordingQuery


def at(day: str, clock: str = "12:00") -> datetime:
    return datetime.fromisoformat(f"{day}T{clock}").replace(tzinfo=UTC)


# (key, campaign, customer email, subject, agent, arrived)
ARCHIVE = [
    ("jan10", "Sales", "alice@example.org", "Invoice missing", "agent1", at("2026-01-10")),
    ("jan15", "Sales", "bob@Example.COM", "Printer broken", "agent2", at("2026-01-15")),
    ("jan20", "Support", "alice@other.net", "INVOICE question", "agent1", at("2026-01-20")),
    ("feb01", "Support", "carol@example.org", "Hello", None, at("2026-02-01", "23:59")),
    ("feb05", "Sales", "dave_x%@example.org", "100% off", "agent2", at("2026-02-05", "00:00")),
]


@pytest.fixture
def archive(any_app):
    people = {k: str(u.id) for k, u in create_users(any_app).items()}
    context = acting_as(any_app, people["admin"])
    campaigns = {name: make_campaign(name) for name in ("Sales", "Support")}
    ids = {}
    for key, campaign, email, subject, agent, arrived in ARCHIVE:
        state = "queued" if agent is None else "closed"
        interaction = make_interaction(
            campaigns[campaign],
            email,
            subject,
            state=state,
            agent_id=people[agent] if agent else None,
            arrived_at=arrived,
        )
        ids[interaction.id] = key
    session().commit()
    yield {"ids": ids, "people": people, "campaigns": {n: c.id for n, c in campaigns.items()}}
    context.pop()


def found(archive, query: RecordingQuery, per_page: int = 50) -> list[str]:
    page = recordings.search(query, 1, per_page)
    return [archive["ids"][row.id] for row in page.items]


def test_no_filter_lists_everything_newest_first(archive):
    assert found(archive, RecordingQuery()) == ["feb05", "feb01", "jan20", "jan15", "jan10"]


def test_start_date_includes_that_whole_day(archive):
    assert found(archive, RecordingQuery(start=date(2026, 1, 15))) == [
        "feb05",
        "feb01",
        "jan20",
        "jan15",
    ]


def test_end_date_includes_that_whole_day(archive):
    assert found(archive, RecordingQuery(end=date(2026, 2, 1))) == [
        "feb01",
        "jan20",
        "jan15",
        "jan10",
    ]


def test_date_range(archive):
    query = RecordingQuery(start=date(2026, 1, 11), end=date(2026, 1, 20))
    assert found(archive, query) == ["jan20", "jan15"]


def test_email_matches_any_part_ignoring_case(archive):
    assert found(archive, RecordingQuery(email="EXAMPLE.")) == ["feb05", "feb01", "jan15", "jan10"]
    assert found(archive, RecordingQuery(email="bob@example.com")) == ["jan15"]


def test_email_wildcards_are_literal_characters(archive):
    assert found(archive, RecordingQuery(email="_x%")) == ["feb05"]
    assert found(archive, RecordingQuery(email="%")) == ["feb05"]


def test_subject_matches_any_part_ignoring_case(archive):
    assert found(archive, RecordingQuery(subject="invoice")) == ["jan20", "jan10"]
    assert found(archive, RecordingQuery(subject="100%")) == ["feb05"]


def test_campaigns(archive):
    sales, support = archive["campaigns"]["Sales"], archive["campaigns"]["Support"]
    assert found(archive, RecordingQuery(campaign_ids=(support,))) == ["feb01", "jan20"]
    assert len(found(archive, RecordingQuery(campaign_ids=(sales, support)))) == 5


def test_agents(archive):
    agent1, agent2 = archive["people"]["agent1"], archive["people"]["agent2"]
    assert found(archive, RecordingQuery(agent_ids=(agent1,))) == ["jan20", "jan10"]
    assert found(archive, RecordingQuery(agent_ids=(agent1, agent2))) == [
        "feb05",
        "jan20",
        "jan15",
        "jan10",
    ]


FILTERS = {
    "start": lambda a: {"start": date(2026, 1, 12)},
    "end": lambda a: {"end": date(2026, 2, 2)},
    "email": lambda a: {"email": "example"},
    "subject": lambda a: {"subject": "o"},
    "campaign": lambda a: {"campaign_ids": (a["campaigns"]["Sales"],)},
    "agent": lambda a: {"agent_ids": (a["people"]["agent1"], a["people"]["agent2"])},
}


def expected(archive, query: RecordingQuery) -> list[str]:
    """The same search, spelled out in Python over ARCHIVE."""
    names = {cid: name for name, cid in archive["campaigns"].items()}
    wanted_agents = {k for k, v in archive["people"].items() if v in query.agent_ids}
    keep = []
    for key, campaign, email, subject, agent, arrived in ARCHIVE:
        if query.start and arrived.date() < query.start:
            continue
        if query.end and arrived.date() > query.end:
            continue
        if query.email and query.email.lower() not in email.lower():
            continue
        if query.subject and query.subject.lower() not in subject.lower():
            continue
        if query.campaign_ids and campaign not in {names[c] for c in query.campaign_ids}:
            continue
        if query.agent_ids and agent not in wanted_agents:
            continue
        keep.append((arrived, key))
    return [key for _, key in sorted(keep, reverse=True)]


def test_every_combination_of_filters(archive):
    checked = 0
    for size in range(len(FILTERS) + 1):
        for names in itertools.combinations(FILTERS, size):
            values = {}
            for name in names:
                values.update(FILTERS[name](archive))
            query = RecordingQuery(**values)
            assert found(archive, query) == expected(archive, query), names
            checked += 1
    assert checked == 64


def test_results_are_paginated(archive):
    first = recordings.search(RecordingQuery(), 1, 2)
    third = recordings.search(RecordingQuery(), 3, 2)
    assert (first.total, first.pages, len(first.items)) == (5, 3, 2)
    assert [archive["ids"][r.id] for r in third.items] == ["jan10"]


def test_rows_carry_campaign_and_agent_names(archive):
    (row,) = recordings.search(RecordingQuery(subject="printer")).items
    assert (row.campaign_name, row.agent_name, row.customer_email) == (
        "Sales",
        "Bob Agent",
        "bob@Example.COM",
    )


def test_the_form_is_read_leniently():
    query, errors = recordings.parse_query(
        MultiDict(
            [
                ("start", "2026-13-45"),
                ("end", "2026-01-05"),
                ("email", "  Alice@Example.org "),
                ("campaign", "3"),
                ("campaign", "x"),
                ("campaign", "3"),
                ("agent", "7"),
            ]
        )
    )
    assert "start" in errors
    assert query.end == date(2026, 1, 5)
    assert query.email == "alice@example.org"
    assert query.campaign_ids == (3,)
    assert query.agent_ids == ("7",)


def test_an_end_before_the_start_is_an_error():
    _, errors = recordings.parse_query(MultiDict({"start": "2026-02-01", "end": "2026-01-01"}))
    assert "end" in errors
