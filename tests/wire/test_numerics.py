"""Tests for ircd.wire.numerics."""

from __future__ import annotations

import pytest

from ircd.wire import Numeric, format_line


@pytest.mark.parametrize(
    ("member", "code"),
    [
        (Numeric.RPL_WELCOME, "001"),
        (Numeric.RPL_ISUPPORT, "005"),
        (Numeric.RPL_UMODEIS, "221"),
        (Numeric.RPL_WHOISBOT, "335"),
        (Numeric.RPL_NAMREPLY, "353"),
        (Numeric.RPL_ENDOFNAMES, "366"),
        (Numeric.ERR_INVALIDCAPCMD, "410"),
        (Numeric.ERR_INPUTTOOLONG, "417"),
        (Numeric.ERR_NICKNAMEINUSE, "433"),
        (Numeric.ERR_CANTSENDTOUSER, "531"),
        (Numeric.RPL_ENDOFHELP, "706"),
        (Numeric.RPL_SASLMECHS, "908"),
    ],
)
def test_values_and_string_forms(member: Numeric, code: str) -> None:
    assert member == code
    assert member.value == code
    assert str(member) == code
    assert f"{member}" == code
    assert f"{member:>4}" == f" {code}"
    assert "%s" % member == code  # noqa: UP031
    assert member + " x" == f"{code} x"
    assert " ".join([member, "x"]) == f"{code} x"
    assert hash(member) == hash(code)
    assert {code: 1}[member] == 1
    assert isinstance(member, str)
    assert Numeric(code) is member


def test_all_codes_are_three_digits_and_unique() -> None:
    codes = [m.value for m in Numeric]
    assert all(len(c) == 3 and c.isdigit() for c in codes)
    assert len(set(codes)) == len(codes)
    assert len(codes) >= 88


def test_required_names_present() -> None:
    required = {
        "RPL_WELCOME": "001",
        "RPL_YOURHOST": "002",
        "RPL_CREATED": "003",
        "RPL_MYINFO": "004",
        "RPL_LUSERCLIENT": "251",
        "RPL_LOCALUSERS": "265",
        "RPL_GLOBALUSERS": "266",
        "RPL_AWAY": "301",
        "RPL_WHOISACCOUNT": "330",
        "RPL_TOPICWHOTIME": "333",
        "RPL_WHOSPCRPL": "354",
        "RPL_TIME": "391",
        "ERR_NOSUCHNICK": "401",
        "ERR_NOTEXTTOSEND": "412",
        "ERR_NOTREGISTERED": "451",
        "ERR_YOUREBANNEDCREEP": "465",
        "ERR_HELPNOTFOUND": "524",
        "RPL_LOGGEDIN": "900",
        "ERR_SASLFAIL": "904",
        "ERR_SASLALREADY": "907",
    }
    for name, code in required.items():
        assert Numeric[name].value == code


def test_numeric_in_format_line() -> None:
    line = format_line(Numeric.RPL_NAMREPLY, ["bob", "=", "#a", "@bob alice"], "irc.local")
    assert line == ":irc.local 353 bob = #a :@bob alice"
