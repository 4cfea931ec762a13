"""The web listener: IRC over WebSocket (the IRCv3 WebSocket spec) at ``/irc`` and the bundled
web messenger's static files at ``/``, on one port (``[web]`` in ``messenger.toml``).

``transport.py`` is the transport: one ``WebConnection`` per TCP connection, a ``Link``
(``ircd/irc/link.py``) once its WebSocket handshake is done, driving the server core through
``attach``/``received``/``detached`` like the TCP ``Connection`` does. The WebSocket protocol
itself (HTTP handshake, framing, masking, close handshake) is the ``websockets`` library's
sans-I/O ``ServerProtocol``. ``static/`` is the web messenger (plain HTML, CSS and JavaScript
modules, no build step), served as it is.
"""

from .transport import WebConnection, WebSettings, load_static

__all__ = ["WebConnection", "WebSettings", "load_static"]
