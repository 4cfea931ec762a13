"""MONITOR, extended-monitor, WHOWAS, WHO masks and LIST's ELIST conditions on the real server
(port 0, raw sockets), as gamja and the other clients that monitor their DM peers use them.

IRCv3 monitor: https://ircv3.net/specs/extensions/monitor; extended-monitor:
https://ircv3.net/specs/extensions/extended-monitor; Modern IRC WHOWAS, WHO, LIST and ELIST:
https://modern.ircdocs.horse/#whowas-message, #who-message, #list-message, #elist-parameter.
"""

from __future__ import annotations

from ircd.wire import Message
from tests.conftest import RawClient


def _is(command: str, *params: str):  # type: ignore[no-untyped-def]
    def pred(m: Message) -> bool:
        return m.command == command and m.params[1 : 1 + len(params)] == params

    return pred


async def test_monitor_follows_connect_nick_change_register_and_quit(connect) -> None:
    """monitor: 731 when added offline; 730 with the mask when the nick connects or is taken by
    NICK; 731 (the nick as last spelled) when it quits or is given up; registering the nick as
    an account changes nothing online, and with extended-monitor + account-notify it is an
    ACCOUNT line to the watcher, who shares no channel with it."""
    alice: RawClient = await connect()
    await alice.registered_and_joined(
        "alice", password="alice-pw", caps="extended-monitor account-notify"
    )
    assert any(" MONITOR=100 " in line and " 005 " in line for line in alice.lines)
    alice.send("PART #general", "MONITOR + bob,Carol")
    got = await alice.expect("731")
    assert set(got.params[1].split(",")) == {"bob", "Carol"}
    bob: RawClient = await connect()
    await bob.registered_and_joined("bob")
    online = await alice.expect("730")
    assert online.params[1] == "bob!~bob@127.0.0.1"
    bob.send("REGISTER * * bob-secret")
    account = await alice.expect("ACCOUNT")
    assert (account.source, account.params) == ("bob!~bob@127.0.0.1", ("bob",))
    bob.send("NICK carol")
    await alice.expect(_is("731", "bob"))
    await alice.expect(_is("730", "carol!~bob@127.0.0.1"))
    bob.send("QUIT :bye")
    await alice.expect(_is("731", "carol"))
    alice.send("MONITOR S")
    status = await alice.expect("731")
    assert set(status.params[1].split(",")) == {"bob", "Carol"}
    await alice.sync()
    assert not [line for line in alice.lines if " 730 " in line][2:]  # exactly the two above


async def test_extended_monitor_away_without_a_shared_channel(connect) -> None:
    """extended-monitor with away-notify: the watched user's AWAY reaches a watcher outside
    its channels, once."""
    watcher: RawClient = await connect()
    await watcher.registered_and_joined("watcher", caps="extended-monitor away-notify")
    watcher.send("PART #general", "MONITOR + dana")
    await watcher.expect("731")
    dana: RawClient = await connect()
    await dana.registered_and_joined("dana")
    await watcher.expect("730")
    dana.send("AWAY :lunch")
    away = await watcher.expect("AWAY")
    assert (away.source, away.params) == ("dana!~dana@127.0.0.1", ("lunch",))
    await dana.sync()
    await watcher.sync()
    assert sum(" AWAY " in line for line in watcher.lines) == 1


async def test_whowas_who_masks_and_list_filters(connect) -> None:
    """WHOWAS after a QUIT (314, 312, 369); WHO with a wildcard mask (352 per match, 315 with
    the mask as sent); LIST with ELIST conditions (users, masks)."""
    a: RawClient = await connect()
    await a.registered_and_joined("alpha")
    b: RawClient = await connect()
    await b.registered_and_joined("beta")
    a.send("JOIN #chan1", "JOIN #chan2")
    b.send("JOIN #chan2")
    await a.sync()
    await b.sync()
    a.send("LIST >1")
    got = await a.collect_until("323")
    assert {m.params[1] for m in got if m.command == "322"} == {"#general", "#chan2"}
    a.send("LIST #chan*,!*2")
    got = await a.collect_until("323")
    assert [m.params[1] for m in got if m.command == "322"] == ["#chan1"]
    a.send("WHO be*")
    got = await a.collect_until("315")
    assert [m.params[5] for m in got if m.command == "352"] == ["beta"]
    assert got[-1].params[1] == "be*"
    b.send("QUIT :bye")
    await a.expect("QUIT")
    a.send("WHOWAS beta")
    got = await a.collect_until("369")
    assert [m.command for m in got] == ["314", "312", "369"]
    assert got[0].params[1:] == ("beta", "~beta", "127.0.0.1", "*", "beta")
