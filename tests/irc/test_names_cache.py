"""The NAMES cache follows the room's version (ircd/irc/fanout.py): whatever changes who is shown
in a room, and how, makes every later NAMES reply and every joiner's list exactly what the
room is, with no call site that has to remember to drop the cache.

RPL_NAMREPLY (353) lists the channel's visible members with their highest prefix (Modern IRC,
"RPL_NAMREPLY (353)"; "NAMES message").
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.irc.harness import Client, Harness

NICKS = ["amy", "bob", "cat", "dan", "eve"]
ACCOUNTS = {"bob": "hunter22", "eve": "s3cret-pw"}  # these log in to an account


def shown(h: Harness, channel: str) -> list[str]:
    """The truth, from the state itself: each online member once, '@' for an operator."""
    room = h.messenger.room(channel)
    assert room is not None
    out = []
    for key in room.members:
        s = h.hub.by_user.get(key)
        if s is not None:
            out.append(("@" if key in room.ops else "") + s.nick)
    return sorted(out)


def names(c: Client, channel: str) -> list[str]:
    out = c.send_take(f"NAMES {channel}")
    return sorted(n for m in out if m.command == "353" for n in m.params[3].split())


def joined_names(h: Harness, channel: str) -> list[str]:
    """What a new joiner is shown (the JOIN path: broadcast_join, then the cached lists)."""
    c = h.user("zed")
    out = c.send_take(f"JOIN {channel}")
    got = sorted(n for m in out if m.command == "353" for n in m.params[3].split())
    c.send_take("QUIT :done")
    return got


OPS = st.lists(
    st.tuples(
        st.sampled_from(["connect", "quit", "join", "part", "nick", "op", "deop", "kick", "look"]),
        st.sampled_from(NICKS),
        st.sampled_from(NICKS),
    ),
    max_size=25,
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(OPS)
def test_names_are_always_what_the_room_is(ops: list[tuple[str, str, str]]) -> None:
    h = Harness(server={"commands_per_second": 0})  # the watcher asks NAMES after every step
    clients: dict[str, Client] = {}  # by the nick it connected with
    watcher = h.user("wat")  # always online, in both rooms
    watcher.send_take("JOIN #dev")
    for op, who, other in ops:
        c = clients.get(who)
        if op == "connect" and c is None:
            clients[who] = h.user(who, password=ACCOUNTS.get(who))
        elif c is None:
            continue
        elif op == "quit":
            c.send_take("QUIT :bye")
            del clients[who]
        elif op == "join":
            c.send_take("JOIN #dev")
        elif op == "part":
            c.send_take("PART #dev")
        elif op == "nick" and who not in ACCOUNTS:
            c.send_take(f"NICK {c.nick}_" if not c.nick.endswith("_") else f"NICK {who}")
        elif op in ("op", "deop", "kick") and other in clients:
            target = clients[other].nick
            sign = "+" if op == "op" else "-"
            line = f"KICK #dev {target}" if op == "kick" else f"MODE #dev {sign}o {target}"
            c.send_take(line)
        for channel in ("#general", "#dev"):
            if h.messenger.room(channel) is None:
                continue
            expected = shown(h, channel)
            assert names(watcher, channel) == expected, (op, who, other)
        if op == "look" and h.messenger.room("#dev") is not None:
            expected = shown(h, "#dev")
            assert joined_names(h, "#dev") == sorted([*expected, "zed"])
            assert names(watcher, "#dev") == shown(h, "#dev")


def test_a_reconnecting_account_is_added_to_the_cached_list_once() -> None:
    """An account that is a member comes back: the cache (built while it was away) gains it
    exactly once, through its JOIN broadcast, without a rebuild."""
    h = Harness()
    watcher = h.user("wat")
    bob = h.user("bob", password="hunter22")
    bob.send_take("JOIN #dev")
    watcher.send_take("JOIN #dev")
    bob.send_take("QUIT :later")
    assert names(watcher, "#dev") == ["wat"]  # the cache is built: bob is offline
    cached = h.hub.names_cache["#dev"]
    bob = h.user("bob", password="hunter22")  # its welcome re-shows #dev
    assert h.hub.names_cache.get("#dev") is cached  # advanced by the join, not dropped
    assert names(watcher, "#dev") == ["@bob", "wat"] == shown(h, "#dev")


def test_stale_lists_and_lists_of_rooms_that_ceased_are_forgotten_by_the_tick() -> None:
    h = Harness()
    a = h.user("amy")
    a.send_take("JOIN #tmp")
    assert names(a, "#tmp") == ["@amy"]
    assert "#tmp" in h.hub.names_cache
    a.send_take("PART #tmp")  # the room ceases
    h.advance(61)
    assert "#tmp" not in h.hub.names_cache
    a.send_take("JOIN #tmp")  # made anew under the same key: a list of its own
    assert names(a, "#tmp") == ["@amy"]
