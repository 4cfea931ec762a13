"""--tls against the server's TLS port (a throw-away self-signed certificate)."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path

import pytest

from ircd.server import Server

from .conftest import TIMEOUT, bridge_config, bridge_env, run_script

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is missing")


async def make_cert(tmp_path: Path) -> tuple[Path, Path]:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    proc = await asyncio.create_subprocess_exec(
        "openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        "-subj", "/CN=localhost", "-keyout", str(key), "-out", str(cert),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
    )  # fmt: skip
    assert await asyncio.wait_for(proc.wait(), 30) == 0
    return cert, key


async def test_tls(tmp_path: Path, unused_tcp_port: int) -> None:
    cert, key = await make_cert(tmp_path)
    cfg = bridge_config(
        tmp_path, server={"tls_cert": str(cert), "tls_key": str(key), "tls_port": unused_tcp_port}
    )
    srv = Server(cfg)
    await srv.start()
    try:
        env = bridge_env(tmp_path)
        args = ["--nick", "tess", "--password", "pw", "--tls"]
        rc, out, err = await run_script(srv.tls_port, [*args, "--insecure"], "over tls\n", env)
        assert rc == 0, out + err
        assert "*** Connected to irc.messenger.local as tess" in out
        assert "#general <tess> over tls" in out
        # verifying a self-signed certificate fails, and says so
        rc, out, err = await run_script(srv.tls_port, args, "hello\n", env)
        assert rc == 1
        assert "certificate verify failed" in out
    finally:
        await asyncio.wait_for(srv.stop(), TIMEOUT)
