"""SyncState / plan_sync: pure incremental-sync rules (RFC 3501 UIDVALIDITY, RFC 7162)."""

from __future__ import annotations

import pytest

from mssante_client.errors import InvalidInputError
from mssante_client.mail.imap_parse import SelectInfo
from mssante_client.mail.sync import SyncState, plan_sync


def sel(
    exists: int = 10, uidvalidity: int = 7, uidnext: int | None = 11, modseq: int | None = 50
) -> SelectInfo:
    return SelectInfo(exists, uidvalidity, uidnext, modseq, frozenset())


def test_state_round_trips_json() -> None:
    state = SyncState("INBOX", 7, 10, 50)
    assert SyncState.from_json(state.to_json()) == state
    assert SyncState.from_json(SyncState("Sent", 1).to_json()).highestmodseq is None


@pytest.mark.parametrize(
    "text",
    [
        "{}",
        "not json",
        '{"folder": "INBOX", "uidvalidity": 0}',
        '{"folder": "x", "uidvalidity": "a"}',
    ],
)
def test_bad_saved_state_is_refused(text: str) -> None:
    with pytest.raises(InvalidInputError):
        SyncState.from_json(text)


def test_first_sync_is_full() -> None:
    plan = plan_sync("INBOX", sel(), None)
    assert plan.full and plan.new_uid_range == "1:*" and plan.min_uid == 0
    assert plan.changed_since is None
    assert plan_sync("INBOX", sel(exists=0), None).new_uid_range is None


def test_incremental_asks_only_above_last_uid_and_flag_changes() -> None:
    state = SyncState("INBOX", 7, 10, 40)
    plan = plan_sync("INBOX", sel(uidnext=13, modseq=55), state)
    assert not plan.full
    assert plan.new_uid_range == "11:*" and plan.min_uid == 10
    assert plan.changed_since == 40 and plan.known_uid_range == "1:10"


def test_nothing_new_nothing_changed() -> None:
    state = SyncState("INBOX", 7, 10, 50)
    plan = plan_sync("INBOX", sel(uidnext=11, modseq=50), state)
    assert plan.new_uid_range is None and plan.changed_since is None


def test_uidvalidity_change_forces_full_resync() -> None:
    state = SyncState("INBOX", 7, 10, 50)
    plan = plan_sync("INBOX", sel(uidvalidity=8), state)
    assert plan.full and plan.new_uid_range == "1:*"
    assert plan.base == SyncState("INBOX", 8, 0, None)


def test_state_of_another_folder_is_refused() -> None:
    with pytest.raises(InvalidInputError):
        plan_sync("Sent", sel(), SyncState("INBOX", 7, 10))


def test_advanced_never_goes_backwards() -> None:
    state = SyncState("INBOX", 7, 10, 50)
    assert state.advanced(last_uid=5, highestmodseq=None) == state
    assert state.advanced(last_uid=12, highestmodseq=60) == SyncState("INBOX", 7, 12, 60)


def test_counters_from_a_noop_still_check_flags() -> None:
    """On an already selected folder only EXISTS is refreshed: changes must still be asked."""
    state = SyncState("INBOX", 7, 10, 50)
    plan = plan_sync("INBOX", sel(uidnext=None, modseq=None), state)
    assert plan.new_uid_range == "11:*" and plan.changed_since == 50
    no_condstore = SyncState("INBOX", 7, 10, None)
    assert plan_sync("INBOX", sel(uidnext=None, modseq=None), no_condstore).changed_since is None
