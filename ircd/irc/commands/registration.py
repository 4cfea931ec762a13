"""Connection registration: CAP, PASS, NICK, USER, AUTHENTICATE (SASL PLAIN), REGISTER, PING,
PONG, QUIT; the welcome burst; login, guests, and an account's further devices."""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Callable

from ...messenger.errors import (
    AccountExists,
    AccountRequired,
    NameTaken,
    NoSuchAccount,
    TooManyAccounts,
)
from ...messenger.model import User
from ...messenger.passwords import hash_password, verify_password
from ...wire import (
    Message,
    Numeric,
    casefold,
    format_line,
    is_valid_nick,
    parse_uint,
    truncate_utf8,
)
from .. import acks, monitor
from ..caps import CAPS, NAMELEN, RESERVED_NICKS
from ..dispatch import defer
from ..hub import Hub
from ..lines import safe_line
from ..registry import command
from ..replay import on_pong, request_ack
from ..session import ACCOUNT, EXTJOIN, TAGS, TIME, Session
from ..timefmt import human_time
from ..welcome import expect_landing, land, welcome

log = logging.getLogger(__name__)

MAX_PASSWORD = 300
# base64 of "authzid NUL authcid NUL password" at most: 2 nicks and a password, in UTF-8
MAX_SASL_PAYLOAD = 1200


def _cap_list(hub: Hub, with_values: bool) -> str:
    out = []
    for cap in CAPS:
        value = hub.cap_values.get(cap)
        out.append(f"{cap}={value}" if with_values and value else cap)
    return " ".join(out)


def update_tagbits(s: Session) -> None:
    if s.pending:
        s.catch_up()  # room broadcasts batched before the change keep their old format
    bits = 0
    if "message-tags" in s.caps:
        bits |= TAGS
    if "server-time" in s.caps:
        bits |= TIME
    if "account-tag" in s.caps:
        bits |= ACCOUNT
    if "extended-join" in s.caps:
        bits |= EXTJOIN
    s.tagbits = bits


@command("CAP", min_params=1, before_registration=True)
def cap(hub: Hub, s: Session, msg: Message) -> None:
    sub = msg.params[0].upper()
    target = s.nick if s.registered else "*"
    if sub == "LS":
        if not s.registered:
            s.cap_negotiating = True
        version = parse_uint(msg.params[1]) if len(msg.params) > 1 else None
        if version is not None:
            s.cap_version = max(s.cap_version, version)
        if s.cap_version >= 302:
            s.caps.add("cap-notify")
        # always one line: pydle and non-302 irssi break on multi-line LS
        s.send(format_line("CAP", (target, "LS", _cap_list(hub, s.cap_version >= 302)), hub.name))
    elif sub == "LIST":
        s.send(format_line("CAP", (target, "LIST", " ".join(sorted(s.caps))), hub.name))
    elif sub == "REQ":
        if not s.registered:
            s.cap_negotiating = True
        wanted = msg.params[1] if len(msg.params) > 1 else ""
        changes = wanted.split()
        ok = bool(changes)
        for c in changes:
            name = c[1:] if c.startswith("-") else c
            if name not in CAPS or (c.startswith("-") and name == "sasl" and s.sasl_account):
                ok = False
        if not ok:  # the NAK echoes the request, whatever the client sent (cut to fit)
            s.send(safe_line("CAP", (target, "NAK", wanted), hub.name))
            return
        for c in changes:
            if c.startswith("-"):
                s.caps.discard(c[1:])
            else:
                s.caps.add(c)
        update_tagbits(s)
        acked = " ".join(dict.fromkeys(changes))  # each change once: it fits in one line
        s.send(safe_line("CAP", (target, "ACK", acked), hub.name))
    elif sub == "END":
        if not s.registered:
            s.cap_negotiating = False
            if s.sasl_mech is not None:
                s.sasl_mech = None
                hub.reply(s, Numeric.ERR_SASLABORTED, "SASL authentication aborted")
            try_register(hub, s)
    else:  # hub.reply makes an echoed "CAP :a b" sendable
        hub.reply(s, Numeric.ERR_INVALIDCAPCMD, msg.params[0], "Invalid CAP command")


@command("PASS", min_params=1, before_registration=True)
def pass_(hub: Hub, s: Session, msg: Message) -> None:
    if s.registered:
        hub.reply(s, Numeric.ERR_ALREADYREGISTERED, "You may not reregister")
        return
    pw = msg.params[0]
    # "nick:password" (ZNC style) is accepted too, as some clients only have one field
    s.password = pw[:MAX_PASSWORD]


@command("USER", min_params=4, before_registration=True)
def user(hub: Hub, s: Session, msg: Message) -> None:
    if s.registered:
        hub.reply(s, Numeric.ERR_ALREADYREGISTERED, "You may not reregister")
        return
    name = "".join(ch for ch in msg.params[0] if ch.isalnum() or ch in "-_.")[:10] or "user"
    s.user = "~" + name if not name.startswith("~") else name
    s.realname = truncate_utf8(msg.params[3], NAMELEN)
    try_register(hub, s)


@command("NICK", before_registration=True)
def nick(hub: Hub, s: Session, msg: Message) -> None:
    if not msg.params or not msg.params[0]:
        hub.reply(s, Numeric.ERR_NONICKNAMEGIVEN, "No nickname given")
        return
    new = msg.params[0]
    key = casefold(new)
    if not is_valid_nick(new):
        hub.reply(s, Numeric.ERR_ERRONEUSNICKNAME, new, "Erroneous nickname")
        return
    if key in RESERVED_NICKS:
        hub.reply(s, Numeric.ERR_ERRONEUSNICKNAME, new, "Nickname is reserved for a service")
        return
    if not s.registered:
        s.nick = new
        s.nick_key = key
        try_register(hub, s)
        return
    if new == s.nick:
        return
    holder = hub.nick_holder(key, s)
    if holder is not None and holder.user_key != s.user_key:  # (not another of its devices)
        hub.reply(s, Numeric.ERR_NICKNAMEINUSE, new, "Nickname is already in use")
        return
    acct = hub.messenger.account(key)
    if acct is not None and acct.key != s.user_key:
        hub.reply(s, Numeric.ERR_NICKNAMEINUSE, new, "Nickname is registered to someone else")
        return
    if s.account is None:
        # a guest keeps its own key; its channel quota follows the nick
        hub.messenger.rename_guest(s.user_key, new, guest_quota(key))
    line = format_line("NICK", (new,), s.mask)
    devices = hub.sessions_of(s.user_key)
    for device in devices:  # the nick is the account's: every device of it changes nick
        device.send(line)
    for peer in hub.peers_of(s):
        peer.send(line)
    first = hub.nicks.pop(s.nick_key)
    old, renamed = s.nick, key != s.nick_key
    if renamed:
        hub.whowas.record(s, hub.clock.now())
    for device in devices:
        device.nick, device.nick_key = new, key
    hub.nicks[key] = first
    hub.messenger.shown_changed(s.user_key)  # its rooms' NAMES lists show the new nick
    if renamed:  # a change of case only is the same nick: its watchers hear nothing
        hub.monitor.offline(hub.name, old)
        hub.monitor.online(hub.name, s)


@command("PING", min_params=1, before_registration=True)
def ping(hub: Hub, s: Session, msg: Message) -> None:
    s.send(safe_line("PONG", (hub.name, msg.params[0]), hub.name))  # the token, cut to fit


@command("PONG", before_registration=True)
def pong(hub: Hub, s: Session, msg: Message) -> None:
    for p in msg.params:
        on_pong(hub, s, p.lstrip(":"))


@command("QUIT", before_registration=True)
def quit_(hub: Hub, s: Session, msg: Message) -> None:
    reason = truncate_utf8(msg.params[0], 300) if msg.params else "Client quit"
    acks.peer_done(hub, s)  # what it had received when it quit counts as delivered
    hub.quit(s, f"Quit: {reason}", error="Closing link: goodbye")


# ---------------------------------------------------------------------- SASL PLAIN


@command("AUTHENTICATE", min_params=1, before_registration=True)
def authenticate(hub: Hub, s: Session, msg: Message) -> None:
    arg = msg.params[0]
    if "sasl" not in s.caps:
        hub.reply(s, Numeric.ERR_SASLFAIL, "SASL authentication failed: sasl not negotiated")
        return
    if s.account is not None:  # SASL, PASS or REGISTER: no re-authentication
        hub.reply(s, Numeric.ERR_SASLALREADY, "You have already authenticated")
        return
    if s.registered:  # a guest: it logs in by reconnecting (or makes an account: REGISTER)
        hub.reply(s, Numeric.ERR_ALREADYREGISTERED, "SASL is only available before you connect")
        return
    if len(arg) > 400:
        # ircv3.net sasl-3.1: the payload goes in chunks of at most 400 bytes
        s.sasl_mech, s.sasl_buffer = None, ""
        hub.reply(s, Numeric.ERR_SASLTOOLONG, "SASL message too long (400 bytes a line)")
        return
    if arg == "*":
        s.sasl_mech, s.sasl_buffer = None, ""
        hub.reply(s, Numeric.ERR_SASLABORTED, "SASL authentication aborted")
        return
    if s.sasl_mech is None:
        if arg.upper() != "PLAIN":
            hub.reply(s, Numeric.RPL_SASLMECHS, "PLAIN", "are available SASL mechanisms")
            hub.reply(s, Numeric.ERR_SASLFAIL, "SASL authentication failed")
            return
        s.sasl_mech, s.sasl_buffer = "PLAIN", ""
        s.send("AUTHENTICATE +")
        return
    if arg != "+":
        s.sasl_buffer += arg
    if len(s.sasl_buffer) > MAX_SASL_PAYLOAD:
        # more than any PLAIN login can be: the authentication fails (904)
        s.sasl_mech, s.sasl_buffer = None, ""
        hub.reply(s, Numeric.ERR_SASLFAIL, "SASL authentication failed: payload too long")
        return
    if len(arg) == 400:
        return  # more chunks follow
    data, s.sasl_buffer, s.sasl_mech = s.sasl_buffer, "", None
    try:
        authzid, authcid, password = base64.b64decode(data, validate=True).decode().split("\0")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        hub.reply(s, Numeric.ERR_SASLFAIL, "SASL authentication failed: malformed PLAIN data")
        return
    name = authcid or authzid
    if not is_valid_nick(name) or casefold(name) in RESERVED_NICKS:
        hub.reply(s, Numeric.ERR_SASLFAIL, "SASL authentication failed: invalid account name")
        return

    def ok(acct: User, created: bool) -> None:
        s.sasl_account = acct.name
        s.account = acct.name
        s.user_key = acct.key
        mask = f"{s.nick}!{s.user or '*'}@{s.host}"
        hub.reply(s, Numeric.RPL_LOGGEDIN, mask, acct.name, f"You are now logged in as {acct.name}")
        hub.reply(s, Numeric.RPL_SASLSUCCESS, "SASL authentication successful")
        if created:
            hub.client_log(s, log.info, "registered account %s from %s (SASL)", acct.name, s.ip)

    def failed(code: str, text: str) -> None:
        hub.client_log(s, log.info, "SASL login failed for %s from %s: %s", name, s.ip, text)
        why = "invalid credentials" if code in ("BAD_PASSWORD", "NO_SUCH_ACCOUNT") else text
        hub.reply(s, Numeric.ERR_SASLFAIL, f"SASL authentication failed: {why}")

    check_login(hub, s, name, password, ok, failed)


def guest_quota(nick_key: str) -> str:
    """Where a guest's channel posts are counted: its nick ('~' never starts an account)."""
    return "~" + nick_key


def check_login(
    hub: Hub,
    s: Session,
    name: str,
    password: str,
    ok: Callable[[User, bool], None],
    failed: Callable[[str, str], None],
) -> None:
    """Check ``password`` for the account ``name``, or create the account with it when there
    is none (accounts.auto_register); then ``ok(account, created)`` or ``failed(code, text)``.
    The hashing runs off the event loop (``dispatch.defer``): this connection's later lines wait,
    everyone else goes on. Guesses are throttled per (address, account) and per account."""
    m = hub.messenger
    key = casefold(name)
    now = hub.clock.now()
    until = hub.throttle.blocked(now, s.ip, key)
    if until:
        failed("THROTTLED", f"Too many failed logins; try again in {int(until - now) + 1}s")
        return
    acct = m.account(key)
    if acct is not None:
        stored = acct.password_hash or ""

        def checked(good: bool) -> None:
            cur = m.account(key)
            if good and cur is not None and cur.password_hash == stored:
                hub.throttle.succeeded(s.ip, key)
                ok(cur, False)
            else:
                hub.throttle.failed(hub.clock.now(), s.ip, key)
                failed("BAD_PASSWORD", "Password incorrect")

        defer(hub, s, lambda: verify_password(password, stored), checked)
        return
    if not m.rules.auto_register:
        hub.throttle.failed(now, s.ip, key)
        failed("NO_SUCH_ACCOUNT", "No such account")
        return
    if hub.nick_holder(key, s) is not None:
        failed("IN_USE", f"{name} is in use by another connection")
        return
    retry = m.new_account_blocked(s.ip)
    if retry is not None:
        failed("TOO_MANY_ACCOUNTS", _too_many_accounts(retry))
        return
    hub.claims[key] = s  # nobody takes the nick while its password is hashed

    def hashed(password_hash: str) -> None:
        if hub.claims.get(key) is s:
            del hub.claims[key]
        if hub.nick_holder(key, s) is not None:
            failed("IN_USE", f"{name} is in use by another connection")
            return
        try:
            acct = m.create_account(key, name, password_hash, s.ip, auto=True)
        except (AccountExists, NameTaken):
            failed("IN_USE", f"{name} was registered by someone else just now")
            return
        except NoSuchAccount:
            failed("NO_SUCH_ACCOUNT", "No such account")
            return
        except TooManyAccounts as e:
            failed("TOO_MANY_ACCOUNTS", _too_many_accounts(e.retry_at))
            return
        ok(acct, True)

    defer(hub, s, lambda: hash_password(password), hashed)


def _too_many_accounts(retry_at: float) -> str:
    return f"Too many new accounts from your address; try again after {human_time(retry_at)}"


# ---------------------------------------------------------------------- REGISTER


REG = "draft/account-registration"


def _plausible_email(email: str) -> bool:
    """One '@' between a non-empty local part and a domain with a dot (no mail is sent)."""
    local, at, domain = email.partition("@")
    return bool(at and local and "@" not in domain and "." in domain.strip("."))


@command("REGISTER", before_registration=True)
def register(hub: Hub, s: Session, msg: Message) -> None:
    """REGISTER <account> {<email> | *} <password> (ircv3.net draft/account-registration).
    Errors are ``FAIL REGISTER <code> <account> :text`` for clients with the capability or
    standard-replies (a service notice for others); the options are settings, advertised in
    the capability's value."""
    m = hub.messenger
    opts = hub.config.accounts

    def fail(code: str, context: str, text: str) -> None:
        hub.fail(s, "REGISTER", code, context, text=text, feature=REG)

    if len(msg.params) < 3 or not msg.params[2]:
        if REG in s.caps or "standard-replies" in s.caps:
            fail("NEED_MORE_PARAMS", "*", "Usage: REGISTER <account> <email or *> <password>")
        else:
            hub.reply(s, Numeric.ERR_NEEDMOREPARAMS, "REGISTER", "Not enough parameters")
        return
    account, email, password = msg.params[0], msg.params[1], msg.params[2]
    if not s.registered and not opts.register_before_connect:
        fail("COMPLETE_CONNECTION_REQUIRED", account, "Connect first, then REGISTER")
        return
    if s.account is not None:
        fail("ALREADY_AUTHENTICATED", account, "You are logged in")
        return
    name = s.nick if account == "*" else account
    if name == "*" or not name:
        fail("NEED_NICK", "*", "Choose a nick first")
        return
    key = casefold(name)
    custom = opts.register_custom_account_name
    if key != s.nick_key and not custom:
        fail("ACCOUNT_NAME_MUST_BE_NICK", name, "The account must be your nick")
        return
    if not is_valid_nick(name):
        fail("BAD_ACCOUNT_NAME", name, "An account name must be a valid nick")
        return
    if email == "*":
        if opts.register_email_required:
            fail("INVALID_EMAIL", name, "An email address is required")
            return
    elif not _plausible_email(email):
        fail("INVALID_EMAIL", name, "That is not an email address")
        return
    if len(password) < 4 or len(password) > MAX_PASSWORD:
        fail("WEAK_PASSWORD", name, "Use a password of 4-300 characters")
        return
    if key in RESERVED_NICKS:
        fail("BAD_ACCOUNT_NAME", name, "That name is reserved")
        return
    if m.account(key) is not None:
        fail("ACCOUNT_EXISTS", name, f"{name} is already registered")
        return
    if hub.nick_holder(key, s) is not None:
        # someone else is using (or logging in with) this nick: it is not ours to register
        fail("BAD_ACCOUNT_NAME", name, f"{name} is in use by another connection")
        return
    retry = m.new_account_blocked(s.ip)
    if retry is not None:
        fail("TEMPORARILY_UNAVAILABLE", name, _too_many_accounts(retry))
        return
    hub.claims[key] = s

    def hashed(password_hash: str) -> None:
        if hub.claims.get(key) is s:
            del hub.claims[key]
        if (s.nick_key != key and not custom) or hub.nick_holder(key, s) is not None:
            fail("BAD_ACCOUNT_NAME", name, f"{name} is in use by another connection")
            return
        guest = s.user_key if s.registered else key
        try:
            acct = m.register(guest, key, name, password_hash, s.ip)
        except (AccountExists, NameTaken):
            fail("ACCOUNT_EXISTS", name, f"{name} is already registered")
            return
        except TooManyAccounts as e:
            fail("TEMPORARILY_UNAVAILABLE", name, _too_many_accounts(e.retry_at))
            return
        if s.registered:
            hub.rekey(s, acct.key)
        s.account = acct.name
        s.user_key = acct.key
        if email != "*":
            m.set_setting(acct.key, "email", email)  # kept with the account, for operators
        hub.client_log(s, log.info, "registered account %s from %s (REGISTER)", acct.name, s.ip)
        s.send(
            format_line(
                "REGISTER", ("SUCCESS", acct.name, f"Account {acct.name} registered"), hub.name
            )
        )
        if s.registered:
            m.mark_seen(acct.key)  # it has landed: next time its unread, not the backlog
            text = f"You are now logged in as {acct.name}"
            hub.reply(s, Numeric.RPL_LOGGEDIN, s.mask, acct.name, text)
            _account_notify(hub, s)
            request_ack(hub, s)

    defer(hub, s, lambda: hash_password(password), hashed)


def _account_notify(hub: Hub, s: Session) -> None:
    line = format_line("ACCOUNT", (s.account or "*",), s.mask)
    monitor.notify(hub.peers_of(s), hub.monitor, s, "account-notify", line)


# ---------------------------------------------------------------------- completing registration


def try_register(hub: Hub, s: Session) -> None:
    if s.registered or s.cap_negotiating or s.nick == "*" or not s.user or s.closing or s.held:
        return
    if s.sasl_mech is not None:
        s.sasl_mech = None
        hub.reply(s, Numeric.ERR_SASLABORTED, "SASL authentication aborted")
    m = hub.messenger
    key = s.nick_key
    if s.account is not None:
        # logged in already (SASL, or REGISTER before registration)
        acct_key = casefold(s.account)
        other = m.account(key)
        if other is not None and other.key != acct_key:
            hub.reply(
                s, Numeric.ERR_NICKNAMEINUSE, s.nick, "Nickname is registered to someone else"
            )
            return
        _complete(hub, s, acct_key)
    elif s.password is not None:
        password = s.password
        if ":" in password and casefold(password.split(":", 1)[0]) == key:
            password = password.split(":", 1)[1]  # "nick:password"

        def ok(acct: User, created: bool) -> None:
            if created:
                hub.client_log(s, log.info, "registered account %s from %s (PASS)", acct.name, s.ip)
            s.account = acct.name  # (held while hashed: its nick and state are as they were)
            if not _complete(hub, s, acct.key):
                s.account = None

        def failed(code: str, text: str) -> None:
            hub.client_log(s, log.info, "login failed for %s from %s: %s", s.nick, s.ip, text)
            if code == "IN_USE":
                hub.reply(s, Numeric.ERR_NICKNAMEINUSE, s.nick, text)
                return
            hub.reply(s, Numeric.ERR_PASSWDMISMATCH, text)
            hub.quit(s, "Bad password", error=f"Closing link: {text}")

        check_login(hub, s, s.nick, password, ok, failed)
    else:
        if hub.nick_holder(key, s) is not None:
            hub.reply(s, Numeric.ERR_NICKNAMEINUSE, s.nick, "Nickname is already in use")
            return
        if m.account(key) is not None:
            hub.reply(
                s,
                Numeric.ERR_NICKNAMEINUSE,
                s.nick,
                "Nickname is registered: send its password as the server password (PASS) or SASL",
            )
            return
        guest_key = hub.guest_key(key)
        try:
            m.attach_guest(guest_key, s.nick, address=s.ip, quota_key=guest_quota(key))
        except AccountRequired as e:
            hub.reply(s, Numeric.ERR_PASSWDMISMATCH, f"Password required: {e}")
            hub.quit(s, "Password required")
            return
        _complete(hub, s, guest_key)


def _complete(hub: Hub, s: Session, user_key: str) -> bool:
    """Registration is complete: the nick is ours, or, for an account that is connected from
    another device already, this connection becomes one more device of it (at most
    ``accounts.max_devices``), with the account's nick and identity; then the welcome,
    #general and the channels, and what the user missed."""
    m = hub.messenger
    key = s.nick_key
    holder = hub.nick_holder(key, s)
    if holder is not None and (holder.user_key != user_key or not holder.registered):
        hub.reply(s, Numeric.ERR_NICKNAMEINUSE, s.nick, "Nickname is already in use")
        if s.account is None:
            m.disconnected(user_key)  # the guest we attached never came online
        return False
    devices = hub.sessions_of(user_key)
    if devices:
        limit = hub.config.accounts.max_devices
        if len(devices) >= limit:
            _too_many_devices(hub, s, len(devices))
            return False
        _share_identity(s, devices[0])
        s.further_device = True
    s.user_key = user_key
    s.registered = True
    hub.add_device(s)
    hub.max_users_seen = max(hub.max_users_seen, len(hub.nicks))  # LUSERS 265/266: users only
    m.connected(user_key, s.ip)
    n = len(hub.sessions_of(user_key))
    if s.sasl_account is None and s.account is not None:
        mask = s.mask
        hub.reply(s, Numeric.RPL_LOGGEDIN, mask, s.account, f"You are now logged in as {s.account}")
    hub.client_log(
        s,
        log.info,
        "registered %s (%s) from %s%s",
        s.nick,
        (f"account {s.account}" + (f", device {n}" if n > 1 else "")) if s.account else "guest",
        s.ip,
        f" caps={' '.join(sorted(s.caps))}" if s.caps else "",
    )
    welcome(hub, s)
    expect_landing(hub, s)
    return True


def _share_identity(s: Session, first: Session) -> None:
    """A further device of an account is the same user as its first: one nick, one mask (so
    that WHOIS, NAMES and every line from either show one user), one away state."""
    if s.nick_key != first.nick_key:
        # the account goes by another nick now (NICK): this client asked for its own
        s.send(format_line("NICK", (first.nick,), f"{s.nick}!{s.user or s.nick}@{s.host}"))
    s.nick, s.nick_key = first.nick, first.nick_key
    s.user, s.host, s.realname = first.user, first.host, first.realname
    s.away = first.away


def _too_many_devices(hub: Hub, s: Session, n: int) -> None:
    """Refuse a login beyond ``accounts.max_devices``: the new connection is refused, never an
    older one dropped, so that opening one client too many never cuts off a device in use
    (and two clients reconnecting in a loop do not throw each other out forever)."""
    text = (
        f"{s.account} is connected from {n} devices already, the most one account may have; "
        "disconnect one of them first"
    )
    hub.client_log(s, log.info, "refused another device for %s from %s: %d", s.account, s.ip, n)
    hub.notice(s, text)
    hub.quit(s, "Too many devices", error=f"Closing link: {text}")


__all__ = ["land", "try_register", "update_tagbits"]
