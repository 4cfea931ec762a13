"""The bundled web messenger in a real browser: the system's Chromium (Debian package
``chromium``, installed by scripts/test.sh) driven by Playwright, against a real server.

Marked ``browser`` (``-m browser`` runs only these, ``-m 'not browser'`` leaves them out). They
are skipped, with the reason, only where Chromium or Playwright is not installed.
``SCREENSHOTS=1`` also writes the screenshots in docs/screenshots/.
"""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from ircd.server import Server
from tests.conftest import make_config

from .conftest import free_port

pytestmark = pytest.mark.browser

playwright_api = pytest.importorskip(
    "playwright.async_api", reason="Playwright for Python is not installed (pip install playwright)"
)
_CANDIDATES = (
    os.environ.get("CHROMIUM"),
    shutil.which("chromium"),
    shutil.which("chromium-browser"),
)
CHROMIUM = next((p for p in _CANDIDATES if p), None)
if CHROMIUM is None:
    pytest.skip(
        "no Chromium: install the Debian package chromium (scripts/test.sh does)",
        allow_module_level=True,
    )

expect = playwright_api.expect
Page = Any
SHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
WAIT = 10_000  # ms, every wait in the page


class Servers:
    """One server (its state kept across restarts) on fixed ports."""

    def __init__(self, tmp_path: Path, **sections: dict[str, Any]) -> None:
        web = {"port": free_port(), **sections.pop("web", {})}
        self.config = make_config(tmp_path, web=web, **sections)
        self.srv: Server | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.config.web.port}/"

    async def start(self) -> Server:
        self.srv = Server(self.config)
        await self.srv.start()
        return self.srv

    async def stop(self) -> None:
        if self.srv is not None:
            await asyncio.wait_for(self.srv.stop(), 10)
            self.srv = None


@pytest.fixture
async def servers(tmp_path: Path) -> AsyncIterator[Callable[..., Awaitable[Servers]]]:
    made: list[Servers] = []

    async def _start(**sections: dict[str, Any]) -> Servers:
        s = Servers(tmp_path / f"s{len(made)}", **sections)
        (tmp_path / f"s{len(made)}").mkdir()
        made.append(s)
        await s.start()
        return s

    yield _start
    for s in made:
        await s.stop()


@pytest.fixture
async def browser() -> AsyncIterator[Any]:
    async with playwright_api.async_playwright() as pw:
        b = await pw.chromium.launch(
            executable_path=CHROMIUM, args=["--no-sandbox", "--disable-dev-shm-usage"]
        )
        try:
            yield b
        finally:
            await b.close()


async def new_page(browser: Any, viewport: tuple[int, int] = (1100, 700)) -> Page:
    ctx = await browser.new_context(viewport={"width": viewport[0], "height": viewport[1]})
    page = await ctx.new_page()
    page.set_default_timeout(WAIT)
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.js_errors = errors
    return page


async def login(page: Page, url: str, nick: str, password: str | None) -> None:
    await page.goto(url)
    await page.fill("#login-nick", nick)
    if password is None:
        await page.click("#login-guest")
    else:
        await page.fill("#login-password", password)
        await page.click("#login-submit")
    await expect(page.locator("#me")).to_have_text(nick)
    await expect(page.locator("#status")).to_have_text("online")


async def say(page: Page, text: str) -> None:
    await page.fill("#input", text)
    await page.press("#input", "Enter")


def messages(page: Page) -> Any:
    return page.locator("#messages li.msg:not(.system) .text")


async def shot(page: Page, name: str) -> None:
    if os.environ.get("SCREENSHOTS"):
        SHOTS.mkdir(parents=True, exist_ok=True)
        await page.screenshot(path=str(SHOTS / f"{name}.png"))


async def test_two_users_chat_and_unread_on_return(servers: Any, browser: Any) -> None:
    """Two people chat in #general and privately; bob logs out, alice writes in #general and
    to him; bob comes back and sees exactly those, after "Unread since your last visit"."""
    s = await servers()
    alice, bob = await new_page(browser), await new_page(browser)
    await login(alice, s.url, "alice", "pw-a")
    await shot(alice, "empty")
    await login(bob, s.url, "bob", "pw-b")
    await say(alice, "hello bob")
    await expect(messages(bob).last).to_have_text("hello bob")
    await say(bob, "hi alice")
    await expect(messages(alice).last).to_have_text("hi alice")
    await alice.click("#members button:has-text('bob')")
    await expect(alice.locator("#conv-title")).to_have_text("bob")
    await say(alice, "hello privately")
    await expect(bob.locator("#conv-list button", has_text="alice")).to_have_count(1)
    await expect(alice.locator("#messages li.msg.pending")).to_have_count(0)
    await bob.click("#logout")
    await expect(bob.locator("#login")).to_be_visible()
    await say(alice, "a secret for you")
    await alice.click("#conv-list button:has-text('#general')")
    await say(alice, "while you were away")
    await say(alice, "and one more")
    await expect(alice.locator("#messages li.msg.pending")).to_have_count(0)
    await login(bob, s.url, "bob", "pw-b")
    sep = bob.locator("#messages li.unread-sep")
    await expect(sep).to_have_text("Unread since your last visit")
    after = bob.locator("#messages li.unread-sep ~ li.msg:not(.system) .text")
    await expect(after).to_have_text(["while you were away", "and one more"])
    texts = await messages(bob).all_text_contents()
    assert texts[-4:] == ["hello bob", "hi alice", "while you were away", "and one more"]
    badge = bob.locator("#conv-list button", has_text="alice").locator(".badge")
    await expect(badge).to_have_text("1")
    await shot(bob, "unread")
    await bob.click("#conv-list button:has-text('alice')")
    await expect(bob.locator("#conv-title")).to_have_text("alice")
    await expect(messages(bob)).to_have_text(["hello privately", "a secret for you"])
    await expect(bob.locator("#messages li.unread-sep + li.msg .text")).to_have_text(
        "a secret for you"
    )
    await shot(bob, "private")
    assert alice.js_errors == [] and bob.js_errors == []


async def test_private_chat_from_the_member_list(servers: Any, browser: Any) -> None:
    s = await servers()
    alice, bob = await new_page(browser), await new_page(browser)
    await login(alice, s.url, "alice", "pw-a")
    await login(bob, s.url, "bob", None)
    await alice.click("#members button:has-text('bob')")
    await expect(alice.locator("#conv-title")).to_have_text("bob")
    await say(alice, "just between us")
    await expect(bob.locator("#conv-list button", has_text="alice")).to_have_count(1)
    await bob.click("#conv-list button:has-text('alice')")
    await expect(messages(bob).last).to_have_text("just between us")
    await say(bob, "sure")
    await expect(messages(alice).last).to_have_text("sure")


async def test_join_a_channel_and_see_its_history(servers: Any, browser: Any) -> None:
    s = await servers()
    alice, bob = await new_page(browser), await new_page(browser)
    await login(alice, s.url, "alice", "pw-a")
    await alice.fill("#join-name", "dev")
    await alice.press("#join-name", "Enter")
    await expect(alice.locator("#conv-title")).to_have_text("#dev")
    await say(alice, "first in #dev")
    await expect(alice.locator("#messages li.msg.pending")).to_have_count(0)
    await login(bob, s.url, "bob", "pw-b")
    await bob.fill("#join-name", "#dev")
    await bob.click("#join-form button")
    await expect(bob.locator("#conv-title")).to_have_text("#dev")
    await expect(messages(bob)).to_have_text(["first in #dev"])
    await expect(bob.locator("#members button")).to_have_text(["alice", "bob"])
    await expect(bob.locator("#messages li.day").first).to_have_text("Today")


async def test_schedule_and_cancel(servers: Any, browser: Any) -> None:
    s = await servers()
    page = await new_page(browser)
    await login(page, s.url, "alice", "pw")
    await page.fill("#input", "see you later")
    await page.click("#schedule summary")
    await expect(page.locator("#schedule-at")).not_to_have_value("")  # in 10 minutes
    await page.click("#schedule-send")
    entry = page.locator("#pending li", has_text="see you later")
    await expect(entry).to_have_count(1)
    await expect(entry).to_contain_text("#1 to #general")
    await expect(page.locator("#input")).to_have_value("")
    await shot(page, "scheduled")
    await entry.get_by_role("button", name="Cancel scheduled message #1").click()
    await expect(page.locator("#pending li")).to_have_text(["Nothing scheduled."])
    await expect(page.locator("#messages li.system").last).to_contain_text("#1 cancelled")
    assert s.srv is not None and s.srv.messenger.scheduled == {}


async def test_complaint_and_quota(servers: Any, browser: Any) -> None:
    s = await servers()
    alice, bob = await new_page(browser), await new_page(browser)
    await login(alice, s.url, "alice", "pw-a")
    await login(bob, s.url, "bob", "pw-b")
    await alice.click("#members button:has-text('bob')")
    await expect(alice.locator("#complain-nick")).to_have_value("bob")
    await alice.fill("#complain-reason", "spamming")
    await alice.click("#complain-form button")
    await expect(alice.locator("#messages li.system").last).to_contain_text(
        "Your complaint about bob was recorded"
    )
    await alice.click("#quota-button")
    await expect(alice.locator("#status")).to_contain_text("You can send 20 more channel messages")


async def test_refusal_is_shown_on_the_refused_message(servers: Any, browser: Any) -> None:
    s = await servers(limits={"messages_per_period": 2})
    page = await new_page(browser)
    await login(page, s.url, "alice", "pw")
    for text in ("one", "two", "three"):
        await say(page, text)
    refused = page.locator("#messages li.msg.refused")
    await expect(refused).to_have_count(1)
    await expect(refused.locator(".text")).to_have_text("three")
    await expect(refused.locator(".refusal")).to_contain_text("Rate limit")
    await shot(page, "refused")


async def test_reconnects_after_a_server_restart_keeping_the_draft(
    servers: Any, browser: Any
) -> None:
    s = await servers()
    page = await new_page(browser)
    await login(page, s.url, "alice", "pw")
    await say(page, "before the restart")
    await expect(page.locator("#messages li.msg.pending")).to_have_count(0)
    await page.fill("#input", "typed while the server was down")
    await s.stop()
    await expect(page.locator("#banner")).to_contain_text("Reconnecting")
    await shot(page, "reconnecting")
    await s.start()
    await expect(page.locator("#banner")).to_be_hidden(timeout=20_000)
    await expect(page.locator("#status")).to_have_text("online")
    await expect(page.locator("#input")).to_have_value("typed while the server was down")
    await page.press("#input", "Enter")
    await expect(messages(page).last).to_have_text("typed while the server was down")
    texts = await messages(page).all_text_contents()
    assert texts.count("before the restart") == 1


async def test_markup_in_a_message_stays_text(servers: Any, browser: Any) -> None:
    s = await servers()
    alice, bob = await new_page(browser), await new_page(browser)
    await login(alice, s.url, "alice", "pw-a")
    await login(bob, s.url, "bob", "pw-b")
    evil = '<script>window.pwned = 1</script><img src=x onerror="window.pwned = 2"><b>bold</b>'
    await say(alice, evil)
    await expect(messages(bob).last).to_have_text(evil)
    for page in (alice, bob):
        assert await page.evaluate("window.pwned") is None
        assert await page.locator("#messages script, #messages img, #messages b").count() == 0


async def test_phone_sized_window(servers: Any, browser: Any) -> None:
    s = await servers()
    page = await new_page(browser, viewport=(390, 760))
    await login(page, s.url, "alice", "pw")
    await expect(page.locator("#sidebar")).to_be_hidden()
    await say(page, "from my phone")
    await expect(messages(page).last).to_have_text("from my phone")
    await page.click("#toggle-chats")
    await expect(page.locator("#sidebar")).to_be_visible()
    await expect(page.locator("#toggle-chats")).to_have_attribute("aria-expanded", "true")
    await shot(page, "phone")


# ---------------------------------------------------------------------- a third-party client

IRC_FRAMEWORK = Path(
    os.environ.get("IRC_FRAMEWORK_JS")
    or Path(__file__).resolve().parents[2] / ".cache" / "irc-framework-4.14.0" / "browser.js"
)
KIWI_PAGE = """<!doctype html><meta charset="utf-8"><title>irc-framework</title>
<script>
// the bundle expects node's process and Buffer globals, which Kiwi IRC's own build provides
// (Buffer only for SASL PLAIN's base64)
window.process = { env: {}, browser: true, version: "", versions: {},
                   nextTick: (f, ...a) => setTimeout(() => f(...a), 0) };
window.Buffer = { from: (text) => ({ toString: () =>
  btoa(String.fromCharCode(...new TextEncoder().encode(text))) }) };
</script>
<script src="/irc-framework.js"></script>
<script>
window.events = [];
window.kiwi = null;
// as Kiwi IRC does: draft/chathistory, and CHATHISTORY LATEST for each channel it joins
window.startKiwi = (port, nick, password) => new Promise((resolve, reject) => {
  const Irc = window["irc-framework"];
  const client = new Irc.Client();
  window.kiwi = client;
  client.requestCap(["draft/chathistory", "batch", "server-time", "message-tags"]);
  client.on("registered", () => resolve(client.user.nick));
  client.on("join", (e) => {
    if (e.nick === client.user.nick) client.raw("CHATHISTORY LATEST " + e.channel + " * 50");
  });
  client.on("message", (e) => window.events.push({
    type: e.type, nick: e.nick, target: e.target, message: e.message,
    batch: e.batch ? e.batch.type : "", time: e.time || 0,
  }));
  client.on("close", () => window.events.push({ type: "close" }));
  client.connect({ host: "127.0.0.1", port, path: "/irc", tls: false, nick, username: nick,
                   gecos: nick, password, auto_reconnect: false });
  setTimeout(() => reject(new Error("not registered")), 8000);
});
</script>"""


class PageServer:
    """Another origin (a port of its own) serving the irc-framework page, as a Kiwi IRC
    deployment would be: a minimal HTTP/1.0 server for two files."""

    def __init__(self) -> None:
        self.files = {
            "/": (KIWI_PAGE.encode(), "text/html; charset=utf-8"),
            "/irc-framework.js": (IRC_FRAMEWORK.read_bytes(), "text/javascript"),
        }
        self.server: asyncio.AbstractServer | None = None
        self.port = 0

    async def start(self) -> str:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{self.port}"

    async def _serve(self, r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(r.readuntil(b"\r\n\r\n"), 10)
            path = head.split(b" ", 2)[1].decode()
            body, ctype = self.files.get(path, (b"not found", "text/plain"))
            status = "200 OK" if path in self.files else "404 Not Found"
            w.write(
                f"HTTP/1.0 {status}\r\nContent-Type: {ctype}\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
                + body
            )
            await w.drain()
        except (asyncio.IncompleteReadError, asyncio.TimeoutError, ConnectionError):
            pass
        finally:
            w.close()

    def close(self) -> None:
        if self.server is not None:
            self.server.close()


def kiwi_messages(page: Page) -> Any:
    return page.evaluate(
        "window.events.filter(e => e.type === 'privmsg').map(e => [e.nick, e.target, e.message])"
    )


async def test_irc_framework_registers_sends_receives_and_gets_private_unread(
    servers: Any, browser: Any, tmp_path: Path
) -> None:
    """Kiwi IRC's irc-framework (its browser bundle, from npm) in Chromium: it registers over
    our WebSocket (offering no subprotocol: served text), sends and receives; after being away
    it gets the private message it never pulls (it pulls only its channels' history)."""
    if not IRC_FRAMEWORK.is_file():
        pytest.skip(f"no irc-framework bundle at {IRC_FRAMEWORK}: scripts/test.sh fetches it (npm)")
    from tests.conftest import RawClient

    pages = PageServer()
    origin = await pages.start()
    s = await servers(chat={"unpulled_push_seconds": 1.0}, web={"allowed_origins": origin})
    port = s.config.web.port
    page = await new_page(browser)
    await page.goto(origin + "/")
    assert (
        await page.evaluate("([p, n, pw]) => window.startKiwi(p, n, pw)", [port, "kiwi", "pw"])
        == "kiwi"
    )
    assert s.srv is not None
    tcp = await RawClient.connect(s.srv.port)
    try:
        await tcp.registered_and_joined("tess", password="pw-t")
        await page.evaluate("window.kiwi.say('#general', 'hello from irc-framework')")
        got = await tcp.expect("PRIVMSG")
        assert got.source.startswith("kiwi!") and got.params == (
            "#general",
            "hello from irc-framework",
        )
        tcp.send("PRIVMSG kiwi :hi kiwi", "PRIVMSG #general :to all")
        await page.wait_for_function("window.events.filter(e => e.type === 'privmsg').length >= 2")
        assert await kiwi_messages(page) == [
            ["tess", "kiwi", "hi kiwi"],
            ["tess", "#general", "to all"],
        ]
        await page.evaluate("window.kiwi.quit('bye')")
        await page.wait_for_function("window.events.some(e => e.type === 'close')")
        tcp.send("PRIVMSG kiwi :while you were away", "PRIVMSG #general :channel news")
        await tcp.sync()
        await page.goto(origin + "/")
        assert (
            await page.evaluate("([p, n, pw]) => window.startKiwi(p, n, pw)", [port, "kiwi", "pw"])
            == "kiwi"
        )
        await page.wait_for_function(
            "window.events.some(e => e.message === 'while you were away')", timeout=WAIT
        )
        got_back = await kiwi_messages(page)
        assert ["tess", "kiwi", "while you were away"] in got_back
        assert ["tess", "#general", "channel news"] in got_back  # its own CHATHISTORY LATEST
        assert got_back.count(["tess", "kiwi", "while you were away"]) == 1
    finally:
        await tcp.close()
        pages.close()


async def test_a_wrong_password_is_said_on_the_login_screen(servers: Any, browser: Any) -> None:
    s = await servers()
    page = await new_page(browser)
    await login(page, s.url, "alice", "right")
    await page.click("#logout")
    await page.fill("#login-password", "wrong")
    await page.click("#login-submit")
    await expect(page.locator("#login-error")).to_contain_text("assword")
    await expect(page.locator("#login")).to_be_visible()
    await shot(page, "login")
