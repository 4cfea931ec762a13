"""Flow control in the adapter (issue 9 §3, §4): slow work (password hashing) runs off the
event loop while that connection's later lines wait in order and everyone else is served;
a per-connection command budget (burst, then a steady rate, then "Excess flood"); OPER and
logins throttled per (address, account) and per account. Lines in, lines out, FakeClock."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from ircd.durable import Pending
from ircd.irc.commands import queries, registration
from tests.messenger.helpers import fast_hash

from .harness import Client, Harness, cmds, one, only
from .operators import OPER_NAME, OPER_PASSWORD, with_operator


@pytest.fixture(autouse=True)
def _fast_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(registration, "hash_password", fast_hash)


class Pool:
    """Stands for the server's thread pool: work waits here until ``run`` is called."""

    def __init__(self, h: Harness) -> None:
        self.jobs: list[tuple[Callable[[], Any], Pending[Any]]] = []
        h.hub.offload = self.offload

    def offload(self, work: Callable[[], Any]) -> Pending[Any]:
        pending: Pending[Any] = Pending()
        self.jobs.append((work, pending))
        return pending

    def run(self) -> None:
        while self.jobs:
            work, pending = self.jobs.pop(0)
            pending.resolve(work())


# ------------------------------------------------------------------ off-loop work


def test_lines_after_a_password_wait_in_order_while_others_are_served() -> None:
    h = Harness()
    pool = Pool(h)
    bystander = h.user("watcher")
    c = h.connect()
    out = c.send_take(
        "PASS carol-pw", "NICK carol", "USER c 0 * :c", "JOIN #knit", "PRIVMSG #knit :first!"
    )
    assert out == [] and len(pool.jobs) == 1  # the hash is being computed elsewhere
    assert len(c.session.inbox) == 2
    # meanwhile everyone else is served at once
    assert cmds(bystander.send_take("PING :still-here")) == ["PONG"]
    pool.run()
    out = c.take()
    order = [m.command for m in out if m.command in ("001", "JOIN", "366")]
    assert order[0] == "001" and "JOIN" in order
    joins = [m.params[0] for m in out if m.command == "JOIN"]
    assert joins == ["#general", "#knit"]
    assert [p.text for p in h.messenger.rooms["#knit"].history] == ["first!"]
    assert c.session.inbox == type(c.session.inbox)()


def test_off_loop_work_that_fails_is_an_error_notice_and_the_later_lines_go_on() -> None:
    """The continuation of failed work (its Pending failed, as the server's pool does when
    the work raises) answers with an error notice; the held lines then run in order."""
    h = Harness()
    pool = Pool(h)
    c = h.user("carol")
    c.send("OPER admin wrong-pw", "PING :after")
    assert c.take() == [] and len(pool.jobs) == 1
    _work, pending = pool.jobs.pop()
    pending.fail(RuntimeError("the pool broke"))
    out = c.take()
    assert [m.command for m in out] == ["NOTICE", "PONG"]
    assert "Internal error" in out[0].params[-1] and out[1].params[-1] == "after"
    assert c.session.held == 0


def test_pending_settles_once_and_runs_its_callbacks_in_order() -> None:
    got: list[str] = []
    p: Pending[int] = Pending()
    p.then(lambda q: got.append(f"a{q.value}"))
    p.then(lambda q: got.append(f"b{q.value}"))
    assert got == [] and not p.done
    p.resolve(7)
    p.resolve(8)  # settling twice does nothing
    p.fail(RuntimeError("late"))
    assert got == ["a7", "b7"] and p.value == 7 and p.error is None
    p.then(lambda q: got.append("now"))  # already settled: at once
    assert got[-1] == "now"
    bad: Pending[int] = Pending()
    bad.fail(ValueError("no"))
    with pytest.raises(RuntimeError):
        _ = bad.value
    assert Pending.of(3).value == 3


def test_a_connection_that_quits_while_its_password_is_checked_is_forgotten() -> None:
    h = Harness()
    pool = Pool(h)
    c = h.connect()
    c.send("PASS dave-pw", "NICK dave", "USER d 0 * :d", "QUIT :bye")
    h.hub.close_session(c.session, "Connection closed")  # the socket went away meanwhile
    pool.run()
    assert not c.session.registered and h.hub.session_by_nick("dave") is None
    assert "dave" not in h.hub.claims
    # the account was not created by a connection that had gone: the nick is free
    assert h.messenger.account("dave") is None


def test_a_labeled_register_gets_its_label_on_the_deferred_reply() -> None:
    """ircv3 labeled-response: the response to a labeled command carries its label, even
    when it is completed later."""
    h = Harness()
    pool = Pool(h)
    g = h.user("erin", "draft/account-registration labeled-response batch")
    g.send("@label=r1 REGISTER * * erins-pw")
    assert g.take() == []
    pool.run()
    out = [m for m in g.take() if m.command != "PING"]  # (a delivery-ack PING is never labeled)
    assert out[0].command == "BATCH" and (out[0].tags or {}).get("label") == "r1"
    assert "REGISTER" in cmds(out)


def test_a_wrong_password_answers_after_the_check_and_closes() -> None:
    h = Harness()
    h.user("frank", password="right-pw").quit()
    pool = Pool(h)
    c = h.connect()
    c.send("PASS wrong-pw", "NICK frank", "USER f 0 * :f", "JOIN #x")
    assert c.take() == []
    pool.run()
    out = c.take()
    assert cmds(out)[:2] == ["464", "ERROR"]
    assert c.session.closing is not None and "#x" not in h.messenger.rooms


# ------------------------------------------------------------------ OPER


def test_oper_is_checked_off_the_loop_and_unknown_names_cost_a_hash(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    checked: list[str] = []
    real = queries.verify_password
    monkeypatch.setattr(
        queries, "verify_password", lambda pw, stored: checked.append(stored) or real(pw, stored)
    )
    monkeypatch.setattr(queries, "_DUMMY_HASH", [fast_hash("dummy")])
    h = Harness(with_operator())
    pool = Pool(h)
    c = h.user("mallory")
    c.send("OPER nosuchname guess", f"OPER {OPER_NAME} guess")
    assert c.take() == [] and len(pool.jobs) == 1
    pool.run()
    out = c.take()
    assert cmds(out) == ["464", "464"]
    assert len(checked) == 2  # the unknown name was checked against a hash too
    c.send(f"OPER {OPER_NAME} {OPER_PASSWORD}")
    pool.run()
    assert "381" in cmds(c.take())


def test_oper_guesses_are_throttled() -> None:
    h = Harness(with_operator())
    c = h.user("mallory")
    limit = h.config.accounts.login_failures_per_minute
    c.send(*[f"OPER {OPER_NAME} wrong{i}" for i in range(limit + 3)])
    out = c.take()
    texts = [m.params[-1] for m in only(out, "464")]
    assert texts[:limit] == ["Password incorrect"] * limit
    assert all(t.startswith("Too many failed attempts") for t in texts[limit:])
    # even the right password waits out the lockout
    c.send(f"OPER {OPER_NAME} {OPER_PASSWORD}")
    assert "381" not in cmds(c.take())
    h.advance(61)
    c.send(f"OPER {OPER_NAME} {OPER_PASSWORD}")
    assert "381" in cmds(c.take())


# ------------------------------------------------------------------ login throttle


def _login(h: Harness, nick: str, password: str, ip: str) -> tuple[Client, list[str]]:
    c = h.connect(ip)
    out = c.send_take(f"PASS {password}", f"NICK {nick}", f"USER {nick} 0 * :x")
    return c, cmds(out)


def test_login_throttle_is_per_address_and_account_with_backoff() -> None:
    h = Harness()
    h.user("gina", password="gina-pw").quit()
    h.user("hank", password="hank-pw").quit()
    limit = h.config.accounts.login_failures_per_minute
    for _ in range(limit):
        _, got = _login(h, "gina", "bad", "10.5.5.5")
        assert got[0] == "464"
    c, got = _login(h, "gina", "gina-pw", "10.5.5.5")
    assert got[0] == "464" and "Too many failed logins" in c.raw[0]
    # the same address is not locked out of other accounts
    c, got = _login(h, "hank", "hank-pw", "10.5.5.5")
    assert "001" in got
    c.quit()
    # the owner from elsewhere gets in
    c, got = _login(h, "gina", "gina-pw", "10.6.6.6")
    assert "001" in got
    c.quit()
    # the lockout ends after a minute; the next one lasts twice as long
    h.advance(61)
    for _ in range(limit):
        _login(h, "gina", "bad", "10.5.5.5")
    h.advance(61)
    _, got = _login(h, "gina", "gina-pw", "10.5.5.5")
    assert got[0] == "464"
    h.advance(60)
    _, got = _login(h, "gina", "gina-pw", "10.5.5.5")
    assert "001" in got


def test_many_addresses_guessing_one_account_do_not_lock_its_owner_out() -> None:
    h = Harness(accounts={"account_failures_per_minute": 6})
    h.user("ivy", password="ivy-pw").quit()
    for i in range(8):
        _login(h, "ivy", "bad", f"10.7.0.{i}")
    # addresses that already failed are refused now (no more hashing spent on them)
    c, got = _login(h, "ivy", "bad", "10.7.0.1")
    assert "Too many failed logins" in c.raw[0]
    # a fresh address is still checked: the right password works
    _, got = _login(h, "ivy", "ivy-pw", "10.8.0.1")
    assert "001" in got


def test_accounts_created_per_address_are_limited() -> None:
    h = Harness(accounts={"max_new_per_address": 2})
    for nick in ("u1", "u2"):
        c, got = _login(h, nick, "pw-" + nick, "10.3.3.3")
        assert "001" in got
    c, got = _login(h, "u3", "pw-u3", "10.3.3.3")
    assert got[0] == "464" and "Too many new accounts from your address" in c.raw[0]
    assert h.messenger.account("u3") is None
    g = h.connect("10.3.3.3")
    g.register("u4", "draft/account-registration")
    fail = one(g.send_take("REGISTER * * pw-u4"), "FAIL")
    assert fail.params[1] == "TEMPORARILY_UNAVAILABLE"
    # existing accounts still log in from there, and other addresses still create
    assert "001" in _login(h, "u1", "pw-u1", "10.3.3.3")[1]
    assert "001" in _login(h, "u5", "pw-u5", "10.4.4.4")[1]


# ------------------------------------------------------------------ command budget


def test_a_burst_is_allowed_then_lines_wait_then_excess_flood() -> None:
    h = Harness(server={"command_burst": 10, "commands_per_second": 2.0, "max_queued_commands": 20})
    watcher = h.user("watcher")
    g = h.user("flooder")  # registration used 2 of its 10
    h.drain(watcher)
    g.send(*[f"AWAY :away {i}" for i in range(8)], "PING :after-burst")
    assert len(g.session.inbox) == 1  # the ninth line waits for the budget
    assert cmds(g.take()).count("306") == 8
    h.advance(0.5)  # one more command's worth
    assert cmds(g.take()) == ["PONG"]
    # a flood: what does not fit the queue closes the connection
    g.send(*[f"TOPIC #general :t{i}" for i in range(40)])
    assert g.session.closing == "Excess flood"
    out = g.take_lines()
    assert out[-1].startswith("ERROR :Closing link") and "Excess flood" in out[-1]
    topics = [m for m in watcher.take() if m.command == "TOPIC"]
    assert len(topics) <= 1  # the flood never reached the channel
    quit_ = [m for m in watcher.take() if m.command == "QUIT"]
    assert quit_ == [] or "Excess flood" in quit_[0].params[-1]


def test_waiting_lines_are_handled_in_order_as_the_budget_grows() -> None:
    h = Harness(server={"command_burst": 3, "commands_per_second": 1.0})
    g = h.user("slowpoke")  # 2 commands spent
    g.send("PING :1", "PING :2", "PING :3", "PING :4")
    assert [m.params[-1] for m in g.take()] == ["1"]
    pongs: list[str] = []
    for _ in range(3):
        h.advance(1)
        pongs += [m.params[-1] for m in g.take() if m.command == "PONG"]
    assert pongs == ["2", "3", "4"]


def test_pong_is_never_held_back() -> None:
    """Delivery acks must not wait behind a client's own flood."""
    h = Harness(server={"command_burst": 3, "commands_per_second": 0.1})
    g = h.user("acker", password="acker-pw")  # spent its budget on registration
    g.send("PING :held")
    assert g.take() == []
    seq = h.messenger.seq
    g.send(f"PONG :ack-{seq}")
    assert len(g.session.inbox) == 1  # only the PING waits: the PONG was handled at once
    assert g.session.delivery.confirmed == seq


def test_zero_rate_turns_the_budget_off() -> None:
    h = Harness(server={"command_burst": 1, "commands_per_second": 0.0})
    g = h.user("bot")
    g.send(*[f"PING :{i}" for i in range(500)])
    assert len(only(g.take(), "PONG")) == 500
