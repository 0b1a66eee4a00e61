"""The choices behind assignment rules: round robin turns, fewest open records with ties
by member order, and matching a record's attribute to members'."""

from __future__ import annotations

import pytest

from tessera.rules.assignment import NoMembers, by_attribute, least_open, round_robin

TEAM = [11, 12, 13]


@pytest.mark.parametrize(("last", "expected"), [(None, 11), (11, 12), (12, 13), (13, 11)])
def test_round_robin_takes_the_member_after_the_last_one_and_wraps(last: int | None, expected: int) -> None:
    assert round_robin(TEAM, last) == expected


def test_round_robin_starts_over_when_the_last_member_left_the_team() -> None:
    assert round_robin(TEAM, 99) == 11


def test_round_robin_over_a_whole_cycle_gives_everyone_one_turn() -> None:
    last = None
    turns = []
    for _ in range(6):
        last = round_robin(TEAM, last)
        turns.append(last)
    assert turns == [11, 12, 13, 11, 12, 13]


def test_least_open_takes_the_member_with_fewest_open_records() -> None:
    assert least_open({11: 4, 12: 1, 13: 3}, TEAM) == 12


def test_least_open_counts_a_member_missing_from_the_counts_as_zero() -> None:
    assert least_open({11: 4, 12: 1}, TEAM) == 13


def test_least_open_breaks_ties_by_member_order() -> None:
    assert least_open({11: 2, 12: 1, 13: 1}, TEAM) == 12
    assert least_open({}, [13, 11, 12]) == 13


def test_least_open_ignores_counts_of_people_outside_the_team() -> None:
    assert least_open({99: 0, 11: 1, 12: 2, 13: 3}, TEAM) == 11


def test_an_empty_team_is_an_error() -> None:
    with pytest.raises(NoMembers):
        round_robin([], None)
    with pytest.raises(NoMembers):
        least_open({}, [])


MEMBERS = {11: "EMEA", 12: ["apac", "emea"], 13: "AMER", 14: None}


def test_by_attribute_matches_values_ignoring_case_and_spaces() -> None:
    assert by_attribute(MEMBERS, " amer ") == 13


def test_by_attribute_takes_turns_among_several_matches() -> None:
    assert by_attribute(MEMBERS, "emea") == 11
    assert by_attribute(MEMBERS, "emea", last_assigned=11) == 12
    assert by_attribute(MEMBERS, "emea", last_assigned=12) == 11


def test_by_attribute_can_pick_the_least_busy_match() -> None:
    assert by_attribute(MEMBERS, "EMEA", counts={11: 5, 12: 2, 13: 0}) == 12


def test_by_attribute_gives_none_when_nobody_or_nothing_matches() -> None:
    assert by_attribute(MEMBERS, "LATAM") is None
    assert by_attribute(MEMBERS, None) is None
    assert by_attribute(MEMBERS, "  ") is None


def test_by_attribute_takes_pairs_in_member_order_and_non_text_values() -> None:
    pairs = [(21, 3), (22, 1), (23, 3)]
    assert by_attribute(pairs, 3) == 21
    assert by_attribute(pairs, 3, last_assigned=21) == 23


def test_by_attribute_takes_several_spellings_of_the_records_value() -> None:
    teams = [(1, ["east", "East"]), (2, ["west", "West"]), (3, ["EAST"])]
    assert by_attribute(teams, ["e", "East"]) == 1
    assert by_attribute(teams, ["e", "East"], last_assigned=1) == 3
    assert by_attribute(teams, ["n", "North"]) is None
    assert by_attribute(teams, []) is None
