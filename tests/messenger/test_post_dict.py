"""A post's journal form (``Post.to_dict``): the one-step dict of a guest's private post is the
dict the general construction makes, keys in the same order (messenger tier, hypothesis)."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from ircd.messenger.model import History, Post


def _general(p: Post) -> dict[str, Any]:
    d: dict[str, Any] = {
        "seq": p.seq, "id": p.msgid, "ts": p.time, "k": p.kind, "s": p.sender,
        "sn": p.sender_name, "o": p.origin, "txt": p.text,
    }  # fmt: skip
    if p.account is not None:
        d["a"] = p.account
    if p.room is not None:
        d["r"] = p.room
    if p.to is not None:
        d["to"] = p.to
        d["tn"] = p.to_name
    if p.tags:
        d["tags"] = dict(p.tags)
    return d


_opt = st.one_of(st.none(), st.text(max_size=5))


@given(
    account=_opt,
    room=_opt,
    to=_opt,
    to_name=_opt,
    tags=st.one_of(st.none(), st.dictionaries(st.text(max_size=3), st.text(max_size=3))),
)
def test_to_dict_is_the_general_dict(
    account: str | None,
    room: str | None,
    to: str | None,
    to_name: str | None,
    tags: dict[str, str] | None,
) -> None:
    p = Post(7, "x-7", 1.5, "PRIVMSG", "a", "al", "al!u@h", account, room, to, to_name, "hi", tags)
    got = p.to_dict()
    assert list(got.items()) == list(_general(p).items())


@given(limit=st.integers(1, 70), n=st.integers(0, 300))
def test_append_bounded_keeps_the_newest(limit: int, n: int) -> None:
    h = History()
    for i in range(n):
        h.append_bounded(
            Post(i, f"x-{i}", 0.0, "PRIVMSG", "a", "a", "a", None, "#r", None, None, "t"), limit
        )
    assert [p.seq for p in h] == list(range(max(0, n - limit), n))
