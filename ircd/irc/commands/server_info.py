"""About the server: HELP (and HELPOP), INFO and LINKS."""

from __future__ import annotations

import fnmatch

from ...wire import Message, Numeric
from ..caps import SERVICE_NICK, VERSION
from ..hub import Hub
from ..registry import COMMANDS, command
from ..session import Session
from ..timefmt import human_time

# Help topics: the first line goes in RPL_HELPSTART, the others in RPL_HELPTXT
# (modern.ircdocs.horse "HELP message"). "" is the index.
HELP_TOPICS: dict[str, tuple[str, ...]] = {
    "": (
        "This server is a messenger that speaks IRC.",  # (+ where everyone lands: help_)
        "Standard commands work as on any IRC server; HELP <command> explains each one:",
        "  Chat:     JOIN PART PRIVMSG NOTICE TAGMSG TOPIC NAMES LIST KICK MODE INVITE",
        "  People:   NICK AWAY SETNAME WHO WHOIS WHOWAS ISON USERHOST",
        "  Server:   MOTD LUSERS VERSION TIME INFO LINKS HELP QUIT",
        "  History:  CHATHISTORY MARKREAD REDACT",
        "  Accounts: REGISTER (or the server password), OPER",
        "  Operators: KILL WALLOPS CHGHOST",
        "Messenger commands (raw verbs; the same through /msg Messenger <command>):",
        "  DELAY <duration> <#channel|nick> :<text>  - send a message later",
        "      (duration: 5 = 5 minutes, 90s, 2h, 1h30m, 1d)",
        "  DELAY AT <ISO-time> <#channel|nick> :<text> - send at a time (UTC by default)",
        "  DELAY LIST                                - your pending scheduled messages",
        "  DELAY CANCEL <id>                         - cancel one",
        "  COMPLAIN <nick> [:<reason>]               - complain about a user",
        "  UNREAD                                    - replay what you have not received yet",
        "  MESSENGER <command>                       - the service's commands (HELP for the list)",
        "HELP <command> for details.",
    ),
    "DELAY": (
        "DELAY <duration> <#channel|nick> :<text>",
        "  Schedules a message. <duration> is minutes (5) or 90s, 15m, 2h, 1h30m, 1d.",
        "DELAY AT <time> <#channel|nick> :<text>  e.g. DELAY AT 2026-05-01T12:05Z #general :hi",
        "DELAY LIST            - list your pending messages with their ids",
        "DELAY CANCEL <id>     - cancel a pending message",
        "A due message goes through the same checks as a live one (mute, rate limit).",
    ),
    "COMPLAIN": (
        "COMPLAIN <nick> [:<reason>]",
        "  Complains about a user. Enough complaints from different users mute them for a while.",
        "  Operators see the complaints, with the user's recent messages and their ids",
        "  (/msg Messenger complaints), and can delete them with REDACT.",
    ),
    "UNREAD": ("UNREAD", "  Replays every message you have not received yet."),
    "MESSENGER": (
        "MESSENGER <command> - the same commands as /msg Messenger <command>.",
        "  Try: MESSENGER HELP",
    ),
    "JOIN": (
        "JOIN <#channel>[,<#channel>...]",
        "  Joins channels (creating them; the creator is the channel operator).",
        "  JOIN 0 leaves every channel but #general.",
    ),
    "PART": ("PART <#channel>[,<#channel>...] [:<reason>]", "  Leaves channels."),
    "PRIVMSG": (
        "PRIVMSG <#channel|nick>[,...] :<text>",
        "  Sends a message to a channel or privately to a user (online or an offline account:",
        "  it is delivered when they connect). Channel messages count against the rate limit.",
    ),
    "NOTICE": (
        "NOTICE <#channel|nick> :<text>",
        "  Like PRIVMSG, but never answered automatically (no error replies).",
    ),
    "TAGMSG": ("TAGMSG <#channel|nick>", "  A message of tags only (typing, reactions)."),
    "TOPIC": (
        "TOPIC <#channel> [:<topic>]",
        "  Shows or sets a channel's topic (channel operators, and server operators).",
    ),
    "NAMES": (
        "NAMES [<#channel>[,<#channel>...]]",
        "  Lists who is in a channel (@ marks its operators, + the voiced); without a",
        "  channel, every channel with people in it.",
    ),
    "LIST": (
        "LIST [<#channel|mask|!mask>[,...]] [<condition>[,...]]",
        "  Lists channels with their member counts and topics. Conditions (ELIST=CMNTU):",
        "  >n / <n users, C<n / C>n created less / more than n minutes ago, T<n / T>n topic",
        "  set less / more than n minutes ago; #dev* a mask, !#dev* not that mask.",
    ),
    "KICK": ("KICK <#channel> <nick> [:<reason>]", "  Removes a user from a channel (operators)."),
    "MODE": (
        "MODE <#channel> [<modes> [<params>]]  or  MODE <nick> [+B|-B|+w|-w|-o]",
        "  Shows or changes a channel's modes (its operators): +n +t +i +k <key> +l <n> +m +s,",
        "  +o/+v <nick>, and the lists +b/+e/+I <mask> (MODE #chan +b lists the bans; a mask",
        "  may be a:<account>, and +b m:<mask> mutes instead of banning).",
        "  Your own user modes: +B marks you as a bot, +w receives WALLOPS, -o drops",
        "  operator status.",
    ),
    "INVITE": (
        "INVITE <nick> <#channel>",
        "  Invites a user: it may join once, past +i, +k, +l and bans. In a +i channel only",
        "  its operators invite. INVITE alone lists your invitations.",
    ),
    "NICK": ("NICK <nick>", "  Changes your nick (an account's nick needs its password)."),
    "AWAY": ("AWAY [:<message>]", "  Marks you away with a message; without one, back."),
    "SETNAME": (
        "SETNAME :<real name>",
        "  Changes your real name (at most 100 bytes, NAMELEN); clients with the setname",
        "  capability in your channels see the change.",
    ),
    "WHO": (
        "WHO <#channel|nick|mask> [o][%<fields>[,<token>]]",
        "  Lists users with their host, flags (H/G here/away, * operator, @/+, B bot) and real",
        "  name. A mask (b*, *!*@host) matches nick, user, host or real name of those you share",
        "  a channel with; o: operators only; %fields: WHOX (354).",
    ),
    "WHOIS": ("WHOIS <nick>", "  Shows who a user is: channels, account, idle time."),
    "WHOWAS": (
        "WHOWAS <nick|mask> [<count>]",
        "  Shows who had a nick before (quit or renamed), most recent first.",
    ),
    "MONITOR": (
        "MONITOR +|- <nick>[,<nick>...]  or  MONITOR C|L|S",
        "  Watches nicks: you are told (730/731) when they come online or go offline.",
        "  + adds, - removes, C clears, L lists, S shows who is online now.",
    ),
    "ISON": ("ISON <nick> [<nick>...]", "  Which of these nicks are online."),
    "USERHOST": ("USERHOST <nick> [<nick>...]", "  The user@host of up to 5 nicks."),
    "MOTD": ("MOTD", "  Shows the message of the day."),
    "LUSERS": ("LUSERS", "  How many users, operators and channels there are."),
    "VERSION": ("VERSION", "  The server's version and what it supports (ISUPPORT)."),
    "TIME": ("TIME", "  The server's time."),
    "INFO": ("INFO", "  About this server's software."),
    "LINKS": ("LINKS", "  The servers of this network: just this one."),
    "HELP": ("HELP [<command>]", "  This help; HELPOP is the same."),
    "QUIT": ("QUIT [:<reason>]", "  Disconnects. What your client confirmed counts as read."),
    "CHATHISTORY": (
        "CHATHISTORY LATEST|BEFORE|AFTER|AROUND|BETWEEN <target> <ref> [<ref>] <limit>",
        "  Fetches stored messages (draft/chathistory); CHATHISTORY TARGETS lists",
        "  conversations with activity. <ref> is msgid=<id>, timestamp=<time> or *.",
    ),
    "MARKREAD": (
        "MARKREAD <target> [timestamp=<time>]",
        "  Gets or moves your read marker of a conversation (draft/read-marker).",
    ),
    "REDACT": (
        "REDACT <#channel|nick> <msgid> [:<reason>]",
        "  Deletes a message (draft/message-redaction): your own, or as a channel operator",
        "  any in that channel, or as a server operator any at all. It leaves the history,",
        "  backlog and unread; clients with the capability remove it from view.",
    ),
    "REGISTER": (
        "REGISTER <account> <email|*> <password>",
        "  Registers your nick as an account (draft/account-registration). Connecting with",
        "  a server password does the same on first use.",
    ),
    "OPER": ("OPER <name> <password>", "  Become a server operator."),
    "KILL": (
        "KILL <nick> [:<reason>]",
        "  Operators: disconnects a user (they see Killed (<you> (<reason>))).",
    ),
    "WALLOPS": ("WALLOPS :<text>", "  Operators: a message to every user with mode +w."),
    "CHGHOST": (
        "CHGHOST <nick> <host>",
        "  Operators: changes a user's displayed host for this connection; clients with",
        "  the chghost capability see the change.",
    ),
    "CAP": ("CAP LS|REQ|LIST|END", "  IRCv3 capability negotiation (done by your client)."),
}
HELP_TOPICS["HELPOP"] = HELP_TOPICS["HELP"]


@command("HELP")
def help_(hub: Hub, s: Session, msg: Message) -> None:
    """modern.ircdocs.horse "HELP message": 704, 705..., 706; 524 for an unknown subject."""
    topic = msg.params[0].upper() if msg.params else ""
    lines = HELP_TOPICS.get(topic)
    if lines is None and topic in COMMANDS:
        spec = COMMANDS[topic]
        lines = (spec.help or topic, f"  {topic} works as on any IRC server.")
    if lines is None:
        hub.reply(s, Numeric.ERR_HELPNOTFOUND, msg.params[0], "No help available on this topic")
        return
    subject = msg.params[0] if msg.params else "*"
    first = lines[0]
    if not topic and hub.general_key:  # chat.auto_join
        first += f" Everyone lands in {hub.config.chat.general_channel}."
    hub.reply(s, Numeric.RPL_HELPSTART, subject, first)
    for line in lines[1:]:
        hub.reply(s, Numeric.RPL_HELPTXT, subject, line)
    hub.reply(s, Numeric.RPL_ENDOFHELP, subject, "End of /HELP")


@command("HELPOP")
def helpop(hub: Hub, s: Session, msg: Message) -> None:
    help_(hub, s, msg)


@command("INFO")
def info(hub: Hub, s: Session, msg: Message) -> None:
    """modern.ircdocs.horse "INFO message": RPL_INFO lines, then RPL_ENDOFINFO. A target
    other than this server gets 402 (there is no other server)."""
    if msg.params and not _is_me(hub, msg.params[0]):
        hub.reply(s, Numeric.ERR_NOSUCHSERVER, msg.params[0], "No such server")
        return
    lines = (
        f"{hub.name}: {hub.config.server.description}",
        f"{VERSION}, in Python asyncio.",
        (
            f"Everyone lands in {hub.config.chat.general_channel}; accounts get"
            if hub.config.chat.auto_join
            else "Accounts get"
        )
        + " what they missed on reconnect.",
        "Private messages reach offline accounts; channel messages are rate limited.",
        "Scheduled messages (DELAY), complaints and mutes, message deletion (REDACT).",
        f"Messenger commands: /msg {SERVICE_NICK} help, or HELP.",
        f"Up since {human_time(hub.started)}.",
    )
    for line in lines:
        hub.reply(s, Numeric.RPL_INFO, line)
    hub.reply(s, Numeric.RPL_ENDOFINFO, "End of /INFO list")


@command("LINKS")
def links(hub: Hub, s: Session, msg: Message) -> None:
    """modern.ircdocs.horse "LINKS message": one server, this one, at hop count 0:
    ``364 <client> * <server> :0 <info>`` (the mask is the server itself), then
    ``365 <client> * :End of /LINKS list``."""
    mask = msg.params[-1] if msg.params else "*"
    if _matches(mask, hub.name):
        info = f"0 {hub.config.server.description}"
        hub.reply(s, Numeric.RPL_LINKS, hub.name, hub.name, info)
    hub.reply(s, Numeric.RPL_ENDOFLINKS, mask, "End of /LINKS list")


def _is_me(hub: Hub, target: str) -> bool:
    """INFO's target: this server by name or mask, or the nick of a user on it."""
    return _matches(target, hub.name) or hub.session_by_nick(target) is not None


def _matches(mask: str, name: str) -> bool:
    """Whether a server ``mask`` (``*`` and ``?`` wildcards, no case) matches ``name``."""
    return fnmatch.fnmatchcase(name.lower(), mask.lower().replace("[", "[[]"))
