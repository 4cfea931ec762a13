from __future__ import annotations

from tests.conftest import RawClient


async def test_two_users_chat_in_general(connect) -> None:
    alice: RawClient = await connect()
    bob: RawClient = await connect()
    await alice.registered_and_joined("alice")
    await bob.registered_and_joined("bob")
    await alice.expect(lambda m: m.command == "JOIN" and m.source.startswith("bob!"))
    bob.send("PRIVMSG #general :hi all")
    got = await alice.expect("PRIVMSG")
    assert got.params == ("#general", "hi all")
    assert got.source.startswith("bob!")
    alice.send("PRIVMSG bob :psst")
    got = await bob.expect("PRIVMSG")
    assert got.params == ("bob", "psst")
