"""Members: many campaigns × many agents at once; only host agents can join."""

from __future__ import annotations

from typing import Any

from flask import Flask
from sqlalchemy import select

from tests.admin.helpers import make_campaign
from ucmail_ext.extension import get_state
from ucmail_ext.models import Member
from ucmail_ext.services.admin import members


def _pairs() -> set[tuple[int, str]]:
    rows = get_state().session.execute(select(Member.campaign_id, Member.agent_id))
    return {(c, a) for c, a in rows}


def test_agents_offered_are_the_hosts_agents(app_ctx: Flask, users: dict[str, Any]) -> None:
    offered = members.list_agents()
    assert [a.name for a in offered] == ["Alice Agent", "Bob Agent", "Carol Agent"]
    assert offered[0].id == str(users["agent1"].id)


def test_add_puts_every_selected_agent_in_every_selected_campaign(
    app_ctx: Flask, users: dict[str, Any]
) -> None:
    sales, support = make_campaign("Sales"), make_campaign("Support")
    a1, a2 = str(users["agent1"].id), str(users["agent2"].id)

    result = members.add_members([sales.id, str(support.id)], [a1, a2], actor_id="1")
    assert result.ok and result.changed == 4
    again = members.add_members([sales.id], [a1], actor_id="1")
    assert again.ok and again.changed == 0
    assert _pairs() == {(sales.id, a1), (sales.id, a2), (support.id, a1), (support.id, a2)}

    rows = members.members_of([sales.id])
    assert [(r.campaign_name, r.agent_name) for r in rows] == [
        ("Sales", "Alice Agent"),
        ("Sales", "Bob Agent"),
    ]


def test_remove_takes_every_selected_agent_out_of_every_selected_campaign(
    app_ctx: Flask, users: dict[str, Any]
) -> None:
    sales, support = make_campaign("Sales"), make_campaign("Support")
    a1, a2 = str(users["agent1"].id), str(users["agent2"].id)
    members.add_members([sales.id, support.id], [a1, a2], actor_id="1")

    result = members.remove_members([sales.id, support.id], [a1], actor_id="1")
    assert result.ok and result.changed == 2
    assert _pairs() == {(sales.id, a2), (support.id, a2)}


def test_only_users_with_the_agent_role_can_be_members(
    app_ctx: Flask, users: dict[str, Any]
) -> None:
    sales = make_campaign("Sales")
    result = members.add_members(
        [sales.id], [str(users["agent1"].id), str(users["supervisor"].id), "999"], actor_id="1"
    )
    assert not result.ok
    assert str(users["supervisor"].id) in result.errors["agent_ids"]
    assert "999" in result.errors["agent_ids"]
    assert _pairs() == set()


def test_selection_must_name_live_campaigns_and_some_agents(
    app_ctx: Flask, users: dict[str, Any]
) -> None:
    result = members.add_members([], [], actor_id="1")
    assert set(result.errors) == {"campaign_ids", "agent_ids"}
    assert (
        "campaign_ids"
        in members.add_members([4242], [str(users["agent1"].id)], actor_id="1").errors
    )
    assert (
        "campaign_ids" in members.add_members(["x"], [str(users["agent1"].id)], actor_id="1").errors
    )
    assert "agent_ids" in members.add_members([1], {"not": "a list"}, actor_id="1").errors
