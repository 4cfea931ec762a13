"""KILL, WALLOPS, INFO, HELP/HELPOP and LINKS at the adapter tier, against Modern IRC
(modern.ircdocs.horse: "KILL message", "WALLOPS message", "INFO message", "HELP message",
"LINKS message") and the way irctest (server_tests/kill.py, wallops.py, info.py, help.py,
links.py) checks them."""

from __future__ import annotations

import pytest

from ircd.irc import COMMANDS
from ircd.irc.commands.server_info import HELP_TOPICS

from .harness import SERVER, Harness, cmds
from .operators import oper_up, with_operator


def test_kill_needs_an_operator_481() -> None:
    """ "If the client does not have appropriate privileges ... ERR_NOPRIVILEGES (481)"."""
    h = Harness(with_operator())
    alice, bob = h.user("alice"), h.user("bob")
    for victim in ("bob", "alice"):
        out = alice.send_take(f"KILL {victim} :some arbitrary reason")
        assert cmds(out) == ["481"] and out[0].params[0] == "alice"
    assert bob.session.closing is None and alice.session.closing is None


def test_kill_the_victim_gets_kill_and_error_its_peers_a_quit() -> None:
    """ "The user being killed and every user sharing a channel with them will receive a
    QUIT message ... Killed (<killer> (<reason>))"; the victim's connection closes with
    ERROR."""
    h = Harness(with_operator())
    root, alice, bob = h.user("root"), h.user("alice"), h.user("bob")
    oper_up(root)
    h.drain(alice, bob)
    out = root.send_take("KILL alice :some arbitrary reason")
    why = "Killed (root (some arbitrary reason))"
    quit_ = [m for m in out if m.command == "QUIT"]
    assert [(m.source, m.params) for m in quit_] == [(alice.session.mask, (why,))]
    assert any(m.command == "NOTICE" and "alice was killed" in m.params[1] for m in out)
    got = alice.take()
    assert [m.command for m in got] == ["KILL", "ERROR"]
    assert got[0].source == root.session.mask and got[0].params == (
        "alice",
        "some arbitrary reason",
    )
    assert why in got[1].params[0]
    assert alice.session.closing is not None and not alice.session.registered
    assert [m.params for m in bob.take() if m.command == "QUIT"] == [(why,)]
    assert h.hub.session_by_nick("alice") is None
    # one argument (as Ergo accepts it)
    root.send_take("KILL bob")
    assert bob.session.closing is not None


def test_kill_unknown_nick_the_service_and_a_long_reason() -> None:
    h = Harness(with_operator())
    root, bob = h.user("root"), h.user("bob")
    oper_up(root)
    root.send_take("KILL bob :" + "é" * 400)
    got = bob.take_lines()
    assert [line.split(" ")[0] for line in got] == [f":{root.session.mask}", "ERROR"]
    assert all(len(line.encode()) <= 510 for line in got)
    assert cmds(root.send_take("KILL nobody :x")) == ["401"]
    assert cmds(root.send_take("KILL Messenger :x")) == ["483"]
    assert cmds(root.send_take("KILL")) == ["461"]


def test_wallops_to_users_with_w_and_the_sender_only_operators_may() -> None:
    """ "send a message to all currently connected users who have set the 'w' user mode";
    "Servers MAY echo WALLOPS messages to their sender"; unprivileged: 481."""
    h = Harness(with_operator())
    n1, n2, n3 = h.user("nick1"), h.user("nick2"), h.user("nick3")
    assert n2.send_take("MODE nick2 -w") == []
    out = n3.send_take("MODE nick3 +w")
    assert [m.format() for m in out] == [f":{n3.session.mask} MODE nick3 +w"]
    assert n3.send_take("MODE nick3")[0].params[1] == "+iw"
    assert cmds(n1.send_take("WALLOPS :hi everyone")) == ["481"]
    oper_up(n1)
    out = n1.send_take("WALLOPS :hi everyone")
    assert [m.format() for m in out] == [f":{n1.session.mask} WALLOPS :hi everyone"]
    assert [m.format() for m in n3.take()] == [f":{n1.session.mask} WALLOPS :hi everyone"]
    assert n2.take() == []


def test_info_lines_then_end_and_402_for_another_server() -> None:
    """ "zero or more RPL_INFO replies, followed by one RPL_ENDOFINFO"; a target server that
    is not this one: ERR_NOSUCHSERVER (RFC 2812 3.4.10)."""
    h = Harness()
    a = h.user("nick")
    for line in ("INFO", f"INFO {SERVER}", "INFO *messenger*", "INFO nick"):
        out = a.send_take(line)
        assert cmds(out)[-1] == "374" and set(cmds(out)[:-1]) == {"371"}, line
        assert all(m.params[0] == "nick" and len(m.params) == 2 for m in out)
    for target in ("invalid.server.example", "invalidserver"):
        out = a.send_take(f"INFO {target}")
        assert [(m.command, m.params[:2]) for m in out] == [("402", ("nick", target))]


def test_links_one_server() -> None:
    """RPL_LINKS "<client> * <server> :<hopcount> <server info>" per irctest (mask and
    server are the server's name), RPL_ENDOFLINKS "<client> * :End of /LINKS list"."""
    h = Harness()
    a = h.user("nick")
    out = a.send_take("LINKS")
    assert [m.command for m in out] == ["364", "365"]
    assert out[0].params[:3] == ("nick", SERVER, SERVER)
    assert out[0].params[3].startswith("0 ")
    assert out[1].params[:2] == ("nick", "*")
    out = a.send_take("LINKS *.example.org")
    assert cmds(out) == ["365"]
    # server.description is the server info (irctest's controller sets "test server")
    h = Harness(server={"description": "test server"})
    out = h.user("nick").send_take("LINKS")
    assert out[0].params[3] == "0 test server"


@pytest.mark.parametrize("verb", ["HELP", "HELPOP"])
def test_help_index_a_command_and_an_unknown_subject(verb: str) -> None:
    """704 RPL_HELPSTART, 705 RPL_HELPTXT..., 706 RPL_ENDOFHELP, each "<client> <subject>
    :<text>"; an unknown subject: ERR_HELPNOTFOUND (524)."""
    h = Harness()
    a = h.user("nick")
    for line, subject in (
        (verb, "*"),
        (f"{verb} PRIVMSG", "PRIVMSG"),
        (f"{verb} redact", "redact"),
    ):
        out = a.send_take(line)
        c = cmds(out)
        assert c[0] == "704" and c[-1] == "706" and set(c[1:-1]) <= {"705"}, line
        assert all(m.params[:2] == ("nick", subject) for m in out), line
    out = a.send_take(f"{verb} THISISNOTACOMMAND")
    assert [(m.command, m.params[:2]) for m in out] == [("524", ("nick", "THISISNOTACOMMAND"))]


def test_every_command_the_index_names_has_real_help() -> None:
    """Each verb the HELP index lists is a command here with its own help text, the
    messenger's own ones included."""
    index = " ".join(HELP_TOPICS[""])
    named = {w for w in index.replace(",", " ").split() if w.isupper() and w.isalpha()}
    named -= {"IRC", "UTC", "ISO", "AT", "LIST", "CANCEL"}  # words, DELAY's subcommands
    assert {"JOIN", "REDACT", "KILL", "WALLOPS", "SETNAME", "DELAY", "COMPLAIN"} <= named
    for verb in named:
        assert verb in COMMANDS, verb
        assert len(HELP_TOPICS[verb]) >= 2, verb
