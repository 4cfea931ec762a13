"""LIST's search conditions (Modern IRC, LIST and the ELIST token:
https://modern.ircdocs.horse/#list-message, https://modern.ircdocs.horse/#elist-parameter),
advertised as ``ELIST=CMNTU``:

- a channel name: that channel; ``M`` a wildcard mask (``#dev*``); ``N`` a mask that must not
  match (``!#dev*``);
- ``U`` users: ``>n`` more than n, ``<n`` fewer than n;
- ``C`` creation: ``C<n`` created less than n minutes ago, ``C>n`` more than n minutes ago;
- ``T`` topic: ``T<n`` set less than n minutes ago, ``T>n`` more than n minutes ago (a channel
  without a topic has no topic time and matches neither).

Every condition must hold; names and masks together: the channel is one of the names or
matches one of the masks. ``parse`` reads both of LIST's parameters (clients put conditions in
the first one, ``LIST >3``, or after the channels); a word that is none of these is a
``ParseError``, answered by the handler.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..wire import casefold, glob_match, has_wildcards, parse_uint


class ElistError(ValueError):
    """A LIST condition that is not one of ELIST=CMNTU's."""


@dataclass(slots=True)
class Query:
    names: set[str] = field(default_factory=set)  # casefolded channel names
    masks: list[str] = field(default_factory=list)
    not_masks: list[str] = field(default_factory=list)
    more_users: int | None = None  # > n
    fewer_users: int | None = None  # < n
    created_within: int | None = None  # C<n (minutes)
    created_before: int | None = None  # C>n
    topic_within: int | None = None  # T<n
    topic_before: int | None = None  # T>n

    @property
    def filtered(self) -> bool:
        """Anything asked for beyond 'every channel'."""
        return self != Query()

    def matches(self, name: str, users: int, created: float, topic_time: float, now: float) -> bool:
        wanted = self.names or self.masks
        if wanted and not (
            casefold(name) in self.names or any(glob_match(m, name) for m in self.masks)
        ):
            return False
        if any(glob_match(m, name) for m in self.not_masks):
            return False
        if self.more_users is not None and not users > self.more_users:
            return False
        if self.fewer_users is not None and not users < self.fewer_users:
            return False
        age = (now - created) / 60
        if self.created_within is not None and not age < self.created_within:
            return False
        if self.created_before is not None and not age > self.created_before:
            return False
        if self.topic_within is not None or self.topic_before is not None:
            if not topic_time:
                return False
            topic_age = (now - topic_time) / 60
            if self.topic_within is not None and not topic_age < self.topic_within:
                return False
            if self.topic_before is not None and not topic_age > self.topic_before:
                return False
        return True


def _number(word: str, text: str) -> int:
    n = parse_uint(text)
    if n is None:
        raise ElistError(word)
    return n


def parse(params: tuple[str, ...]) -> Query:
    q = Query()
    for param in params:
        for word in param.split(","):
            if not word:
                continue
            head, rest = word[:1], word[1:]
            if head == ">":
                q.more_users = _number(word, rest)
            elif head == "<":
                q.fewer_users = _number(word, rest)
            elif head in "CcTt" and rest[:1] in ("<", ">"):
                n = _number(word, rest[1:])
                if head in "Cc":
                    if rest[0] == "<":
                        q.created_within = n
                    else:
                        q.created_before = n
                elif rest[0] == "<":
                    q.topic_within = n
                else:
                    q.topic_before = n
            elif head == "!" and rest:
                q.not_masks.append(rest)
            elif has_wildcards(word):
                q.masks.append(word)
            elif head == "#":
                q.names.add(casefold(word))
            else:
                raise ElistError(word)
    return q
