"""Raw verbs for the messenger's own features: DELAY, COMPLAIN, MESSENGER."""

from __future__ import annotations

from ...wire import Message
from ..hub import Hub
from ..registry import command
from ..service import complain_command, delay_command, service_command
from ..session import Session


@command("DELAY", help="DELAY <duration> <target> :<text> | DELAY LIST | DELAY CANCEL <id>")
def delay(hub: Hub, s: Session, msg: Message) -> None:
    # "DELAY 5m #general hello world" without the ':' works too: the rest is the text
    delay_command(hub, s, list(msg.params), via="verb")


@command("COMPLAIN", help="COMPLAIN <nick> [:<reason>]")
def complain(hub: Hub, s: Session, msg: Message) -> None:
    complain_command(hub, s, list(msg.params), via="verb")


@command("MESSENGER", help="MESSENGER <service command>")
def messenger(hub: Hub, s: Session, msg: Message) -> None:
    service_command(hub, s, " ".join(msg.params), via="verb")
