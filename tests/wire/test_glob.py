"""Tests for ircd.wire.glob: IRC wildcard masks (Modern IRC, "Wildcard expressions":
https://modern.ircdocs.horse/#wildcard-expressions -- ``*`` any run, ``?`` one character),
compared under CASEMAPPING=ascii."""

from __future__ import annotations

import fnmatch

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ircd.wire import casefold, glob_match, has_wildcards


@pytest.mark.parametrize(
    ("mask", "text", "matches"),
    [
        ("*", "", True),
        ("*", "anything at all", True),
        ("coolni*", "coolNick", True),
        ("COOLNICK", "coolnick", True),
        ("c?olnick", "coolnick", True),
        ("c?olnick", "colnick", False),
        ("*ck2", "nick2", True),
        ("*ck2", "nick2x", False),
        ("a*b*c", "aXXbYYc", True),
        ("a*b*c", "aXXbYY", False),
        ("[x]", "[x]", True),  # brackets are literal, not a character class
        ("[x]", "x", False),
        (".*", "ab", False),  # regex syntax is literal
        ("~?bob", "~xbob", True),
        ("Ä*", "Äpfel", True),
        ("ä*", "Äpfel", False),  # non-ASCII letters never fold
        ("**a**", "bab", True),
    ],
)
def test_glob_match(mask: str, text: str, matches: bool) -> None:
    assert glob_match(mask, text) is matches


def test_has_wildcards() -> None:
    assert has_wildcards("a*") and has_wildcards("?") and not has_wildcards("alice")


_alphabet = st.sampled_from("aAbB*?[].\\^$ -Ä\n")


@given(st.text(_alphabet, max_size=12), st.text(_alphabet, max_size=12))
def test_glob_agrees_with_fnmatch_without_classes(mask: str, text: str) -> None:
    """Same verdict as fnmatch's * and ? once brackets (fnmatch classes) are escaped."""
    escaped = "".join(f"[{c}]" if c in "[]" else c for c in casefold(mask))
    assert glob_match(mask, text) is fnmatch.fnmatchcase(casefold(text), escaped)


@given(st.text(max_size=20))
def test_a_text_matches_itself_and_star(text: str) -> None:
    literal = "".join(c for c in text if c not in "*?")
    assert glob_match(literal, literal)
    assert glob_match("*", text)


def test_a_hostile_mask_takes_polynomial_time() -> None:
    """A mask like *a*a*a...*b against a long text: a backtracking regex would take
    exponential time (a client could stall the server with one WHO); this takes milliseconds."""
    import time

    mask, text = "*a" * 200 + "*b", "a" * 500
    started = time.perf_counter()
    assert not glob_match(mask, text)
    assert glob_match(mask[:-1], text)
    assert time.perf_counter() - started < 2.0
