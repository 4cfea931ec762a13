"""``History``, the stored history of a room or conversation: it must behave like the deque it
replaced (append, trim the oldest, delete a redacted post, iterate both ways) while indexing and
slicing at any depth without copying."""

from __future__ import annotations

from collections import deque

from hypothesis import given, settings
from hypothesis import strategies as st

from ircd.messenger.model import History, Post


def _post(seq: int) -> Post:
    return Post(
        seq, f"s-{seq}", float(seq), "PRIVMSG", "a", "A", "A!a@h", None, "#r", None, None, "x"
    )


OPS = st.lists(
    st.one_of(
        st.tuples(st.just("append"), st.integers(0, 0)),
        st.tuples(st.just("popleft"), st.integers(0, 0)),
        st.tuples(st.just("del"), st.integers(-300, 300)),
    ),
    max_size=400,
)


@given(OPS, st.integers(-300, 300), st.integers(-300, 300))
@settings(max_examples=200, deadline=None)
def test_history_behaves_like_a_deque(ops: list[tuple[str, int]], a: int, b: int) -> None:
    h, d = History(), deque[Post]()
    seq = 0
    for op, i in ops:
        if op == "append":
            seq += 1
            h.append(_post(seq))
            d.append(_post(seq))
        elif op == "popleft":
            if d:
                assert h.popleft().seq == d.popleft().seq
            else:
                try:
                    h.popleft()
                except IndexError:
                    pass
                else:
                    raise AssertionError("popleft of an empty history")
        elif d and -len(d) <= i < len(d):
            del h[i]
            del d[i]
        assert len(h) == len(d) and bool(h) == bool(d)
    ref = list(d)
    assert [p.seq for p in h] == [p.seq for p in ref]
    assert [p.seq for p in reversed(h)] == [p.seq for p in reversed(ref)]
    assert [p.seq for p in h[a:b]] == [p.seq for p in ref[a:b]]
    for i in (a, b):
        if -len(ref) <= i < len(ref):
            assert h[i].seq == ref[i].seq
        else:
            try:
                h[i]
            except IndexError:
                pass
            else:
                raise AssertionError(f"index {i} of {len(ref)}")


def test_trimming_releases_the_dropped_head() -> None:
    h = History(_post(i) for i in range(1000))
    for _ in range(900):
        h.popleft()
    assert len(h._items) < 1000  # the dropped head was cut off, not kept as None slots
    assert [p.seq for p in h][:2] == [900, 901] and h[-1].seq == 999


# -- the fast check of stored posts (validate._plain_post) -------------------------------------

GOOD = {
    "seq": 7,
    "id": "srv-7",
    "ts": 1.5e9,
    "k": "PRIVMSG",
    "s": "ann",
    "sn": "Ann",
    "o": "Ann!a@h",
    "a": "ann",
    "r": "#r",
    "txt": "hello",
}
ODD = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**60), 2**60),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(alphabet=" :\r\n\0ab#!", max_size=6),
    st.just("NOTICE"),
    st.just({}),
    st.just({"k": "v"}),
    st.just([]),
)


@given(
    st.dictionaries(st.sampled_from([*GOOD, "to", "tn", "tags"]), ODD),
    st.sets(st.sampled_from(list(GOOD))),
)
@settings(max_examples=500, deadline=None)
def test_the_fast_post_check_accepts_only_what_the_full_check_accepts(
    changes: dict[str, object], dropped: set[str]
) -> None:
    from ircd.messenger.validate import StateError, _plain_post, _post

    p = {k: v for k, v in {**GOOD, **changes}.items() if k not in dropped}
    if _plain_post(p):
        try:
            _post(p, "p")
        except StateError as e:  # pragma: no cover - the property
            raise AssertionError(f"fast check accepted {p!r}: {e}") from None


def test_the_fast_post_check_takes_the_common_post() -> None:
    from ircd.messenger.validate import _plain_post

    assert _plain_post(dict(GOOD))
    assert not _plain_post({**GOOD, "txt": "a\nb"})
    assert not _plain_post({**GOOD, "to": "bob"})  # both a room and a user
