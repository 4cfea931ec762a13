"""The one BATCH framer (ircd/irc/lines.batch), as labelled responses, chathistory replays and
CHATHISTORY TARGETS use it (ircv3.net batch: "BATCH +ref type params", each line tagged
``batch=ref``, "BATCH -ref"; labeled-response: the label goes on the opening BATCH)."""

from __future__ import annotations

from collections.abc import Iterator

from ircd.irc.lines import batch


def test_lines_are_framed_and_tagged() -> None:
    out = list(batch("srv", "r1", "chathistory", ("#a",), [":n PRIVMSG #a :x", "@time=t :n X y"]))
    assert out == [
        ":srv BATCH +r1 chathistory #a",
        "@batch=r1 :n PRIVMSG #a :x",
        "@batch=r1;time=t :n X y",
        ":srv BATCH -r1",
    ]


def test_the_opener_carries_the_tag_and_nested_batches_keep_theirs() -> None:
    lines = [":srv BATCH +in chathistory #a", "@batch=in :n PRIVMSG #a :x", ":srv BATCH -in"]
    out = list(batch("srv", "L", "labeled-response", (), lines, tag="label=abc"))
    assert out == [
        "@label=abc :srv BATCH +L labeled-response",
        "@batch=L :srv BATCH +in chathistory #a",
        "@batch=in :n PRIVMSG #a :x",  # inside the nested batch: its own tag only
        "@batch=L :srv BATCH -in",
        ":srv BATCH -L",
    ]


def test_a_client_tag_that_merely_contains_batch_is_not_a_batch_tag() -> None:
    out = list(batch("srv", "r", "chathistory", ("#a",), ["@+xbatch=1 :n PRIVMSG #a :x"]))
    assert out[1] == "@batch=r;+xbatch=1 :n PRIVMSG #a :x"


def test_lines_are_taken_lazily() -> None:
    taken: list[int] = []

    def lines() -> Iterator[str]:
        for i in range(2):
            taken.append(i)
            yield f":n PRIVMSG #a :{i}"

    framed = batch("srv", "r", "chathistory", ("#a",), lines())
    assert next(framed) == ":srv BATCH +r chathistory #a" and taken == []
    assert next(framed) == "@batch=r :n PRIVMSG #a :0" and taken == [0]
