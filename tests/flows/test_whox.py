"""WHO with WHOX fields (354) on the real server (IRCv3 whox: https://ircv3.net/specs/extensions/whox;
RPL_WHOSPCRPL fields in the order tcuihsnfdlaor, the token first)."""

from __future__ import annotations

from tests.conftest import RawClient


async def test_who_with_whox_fields(connect) -> None:
    a: RawClient = await connect()
    await a.registered_and_joined("alice", password="pw")
    b: RawClient = await connect()
    await b.registered_and_joined("bob")
    b.send("WHO #general %tnurha,542")
    got = await b.collect_until("315")
    rows = sorted(m.params for m in got if m.command == "354")
    assert rows == [
        ("bob", "542", "~alice", "127.0.0.1", "alice", "alice", "alice"),
        ("bob", "542", "~bob", "127.0.0.1", "bob", "0", "bob"),
    ]
    b.send("WHO alice %nf")
    got = await b.collect_until("315")
    assert [m.params for m in got if m.command == "354"] == [("bob", "alice", "H")]
