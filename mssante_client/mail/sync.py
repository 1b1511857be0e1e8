"""Incremental folder synchronisation state and plan (pure: no I/O).

The caller keeps a :class:`SyncState` per folder between runs (it is JSON-serialisable). IMAP
guarantees that a UID is never reused while UIDVALIDITY stays the same (RFC 3501 §2.3.1.1), so
"new messages" are exactly the UIDs above the last one seen; if UIDVALIDITY changed, everything
known is void and a full resync is needed. With CONDSTORE (RFC 7162), HIGHESTMODSEQ lets us ask
only for flag changes since the last sync (``CHANGEDSINCE``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace

from ..errors import InvalidInputError
from .imap_parse import SelectInfo

__all__ = ["SyncPlan", "SyncState", "plan_sync"]


@dataclass(frozen=True, slots=True)
class SyncState:
    """Where the last sync of ``folder`` stopped."""

    folder: str
    uidvalidity: int
    last_uid: int = 0
    highestmodseq: int | None = None

    def to_json(self) -> str:
        return json.dumps(
            {
                "folder": self.folder,
                "uidvalidity": self.uidvalidity,
                "last_uid": self.last_uid,
                "highestmodseq": self.highestmodseq,
            },
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str | bytes) -> SyncState:
        try:
            d = json.loads(text)
            state = cls(
                folder=str(d["folder"]),
                uidvalidity=int(d["uidvalidity"]),
                last_uid=int(d.get("last_uid", 0)),
                highestmodseq=None if d.get("highestmodseq") is None else int(d["highestmodseq"]),
            )
        except (ValueError, TypeError, KeyError) as exc:
            raise InvalidInputError("sync_state", f"not a saved SyncState ({exc})") from None
        if state.uidvalidity <= 0 or state.last_uid < 0:
            raise InvalidInputError("sync_state", "uidvalidity/last_uid out of range")
        return state

    def advanced(self, *, last_uid: int, highestmodseq: int | None) -> SyncState:
        """The state after a successful sync (never goes backwards)."""
        return replace(
            self,
            last_uid=max(self.last_uid, last_uid),
            highestmodseq=highestmodseq if highestmodseq is not None else self.highestmodseq,
        )


@dataclass(frozen=True, slots=True)
class SyncPlan:
    """What to ask the server, given the previous state and a fresh SELECT."""

    full: bool  # UIDVALIDITY changed or no previous state: list everything
    new_uid_range: str | None  # UID set for new messages, None if nothing can be new
    min_uid: int  # ignore UIDs <= this (UID FETCH n:* always returns the last message)
    changed_since: int | None  # CHANGEDSINCE modseq for flag changes of known messages
    known_uid_range: str | None  # UID set of already-known messages to check for flag changes
    base: SyncState  # the state the result will advance from


def plan_sync(folder: str, selected: SelectInfo, state: SyncState | None) -> SyncPlan:
    """Decide between a full and an incremental sync (RFC 3501 UIDVALIDITY, RFC 7162)."""
    if state is not None and state.folder != folder:
        raise InvalidInputError(
            "state", f"the state is for folder {state.folder!r}, not {folder!r}"
        )
    if state is None or state.uidvalidity != selected.uidvalidity:
        base = SyncState(folder, selected.uidvalidity, 0, None)
        return SyncPlan(
            full=True,
            new_uid_range="1:*" if selected.exists else None,
            min_uid=0,
            changed_since=None,
            known_uid_range=None,
            base=base,
        )
    nothing_new = selected.uidnext is not None and selected.uidnext <= state.last_uid + 1
    changed_since = None
    if (
        state.highestmodseq is not None
        and state.last_uid > 0
        # unknown (counters from a NOOP on the selected folder) or moved on: ask for changes
        and (selected.highestmodseq is None or selected.highestmodseq > state.highestmodseq)
    ):
        changed_since = state.highestmodseq
    return SyncPlan(
        full=False,
        new_uid_range=None if nothing_new or not selected.exists else f"{state.last_uid + 1}:*",
        min_uid=state.last_uid,
        changed_since=changed_since,
        known_uid_range=f"1:{state.last_uid}" if changed_since is not None else None,
        base=state,
    )
