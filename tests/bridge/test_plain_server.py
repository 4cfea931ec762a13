"""Against a plain IRC server (ngircd): no IRCv3 extras, no messenger verbs. The bridge joins
#general itself, echoes its own lines and says what the server cannot do."""

from __future__ import annotations

import asyncio
import re
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.conftest import RawClient

from .conftest import TIMEOUT, bridge_env, run_script

NGIRCD = shutil.which("ngircd") or (
    "/usr/sbin/ngircd" if Path("/usr/sbin/ngircd").exists() else None
)
pytestmark = pytest.mark.skipif(NGIRCD is None, reason="ngircd is not installed")

TIME = r"\[\d\d:\d\d\]"


@pytest.fixture
async def ngircd(tmp_path: Path, unused_tcp_port: int) -> AsyncIterator[int]:
    conf = tmp_path / "ngircd.conf"
    conf.write_text(
        f"""[Global]
Name = irc.plain.test
Info = plain test server
Listen = 127.0.0.1
Ports = {unused_tcp_port}
MotdPhrase = plain server
PidFile = {tmp_path}/ngircd.pid
[Options]
PAM = no
Ident = no
DNS = no
"""
    )
    assert NGIRCD is not None
    proc = await asyncio.create_subprocess_exec(
        NGIRCD,
        "-n",
        "-f",
        str(conf),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    loop = asyncio.get_running_loop()
    deadline = loop.time() + TIMEOUT
    while True:  # ready when it accepts connections
        try:
            _, w = await asyncio.open_connection("127.0.0.1", unused_tcp_port)
            w.close()
            break
        except OSError:
            assert loop.time() < deadline, "ngircd did not start"
            await asyncio.sleep(0.05)
    try:
        yield unused_tcp_port
    finally:
        proc.terminate()
        await asyncio.wait_for(proc.wait(), TIMEOUT)


async def test_works_with_what_a_plain_server_offers(ngircd: int, tmp_path: Path) -> None:
    bob = await RawClient.connect(ngircd)
    bob.send("NICK bob", "USER bob 0 * :bob", "JOIN #general")
    await bob.expect(lambda m: m.command == "366")
    script = "hello plain\n/priv bob hi\n/me waves\n/who\n/history\n/delay 5 later\n/unread\nquit\n"
    rc, out, err = await run_script(ngircd, ["--nick", "carol"], script, bridge_env(tmp_path))
    assert rc == 0, out + err
    await bob.expect(lambda m: m.command == "PRIVMSG" and m.params == ("#general", "hello plain"))
    await bob.expect(lambda m: m.command == "PRIVMSG" and m.params == ("bob", "hi"))
    lines = out.splitlines()
    assert "*** Connected to irc.plain.test as carol" in lines
    assert "*** You joined #general" in lines
    assert any(re.fullmatch(rf"{TIME} #general <carol> hello plain", x) for x in lines)
    assert any(re.fullmatch(rf"{TIME} \*private\* <carol → bob> hi", x) for x in lines)
    assert any(re.fullmatch(rf"{TIME} #general \* carol waves", x) for x in lines)
    assert any(x.startswith("*** /who #general: ") and "bob" in x for x in lines)
    assert "! This server keeps no history (no draft/chathistory)" in lines
    assert "! This server has no delayed messages or complaints" in lines
    assert "! This server does not keep unread messages for you" in lines
    assert "Traceback" not in err
    await bob.close()
