// IRC lines for the web messenger: parsing and formatting (IRCv3 message tags), and one
// connection over WebSocket (https://ircv3.net/specs/extensions/websocket): one line per
// message, text.ircv3.net, PINGs answered here. No DOM in this module.

const TAG_UNESCAPES = { ":": ";", s: " ", r: "\r", n: "\n", "\\": "\\" };

function unescapeTag(value) {
  return value.replace(/\\(.?)/g, (_, c) => (c in TAG_UNESCAPES ? TAG_UNESCAPES[c] : c));
}

function escapeTag(value) {
  return value.replace(/[\\; \r\n]/g, (c) => ({ "\\": "\\\\", ";": "\\:", " ": "\\s", "\r": "\\r", "\n": "\\n" })[c]);
}

/** One received line: {tags, source, nick, command, params}. */
export function parseLine(line) {
  const msg = { tags: {}, source: "", nick: "", command: "", params: [] };
  let rest = line;
  if (rest.startsWith("@")) {
    const sp = rest.indexOf(" ");
    for (const part of rest.slice(1, sp < 0 ? undefined : sp).split(";")) {
      if (!part) continue;
      const eq = part.indexOf("=");
      if (eq < 0) msg.tags[part] = "";
      else msg.tags[part.slice(0, eq)] = unescapeTag(part.slice(eq + 1));
    }
    rest = sp < 0 ? "" : rest.slice(sp + 1).trimStart();
  }
  if (rest.startsWith(":")) {
    const sp = rest.indexOf(" ");
    msg.source = rest.slice(1, sp < 0 ? undefined : sp);
    msg.nick = msg.source.split("!")[0];
    rest = sp < 0 ? "" : rest.slice(sp + 1).trimStart();
  }
  while (rest.length) {
    if (rest.startsWith(":")) {
      msg.params.push(rest.slice(1));
      break;
    }
    const sp = rest.indexOf(" ");
    const word = sp < 0 ? rest : rest.slice(0, sp);
    if (!msg.command) msg.command = word.toUpperCase();
    else msg.params.push(word);
    rest = sp < 0 ? "" : rest.slice(sp + 1).trimStart();
  }
  return msg;
}

/** A line to send: the last parameter becomes a trailing one when it needs to. */
export function formatLine(command, params = [], tags = {}) {
  const parts = [];
  const tagText = Object.entries(tags)
    .map(([k, v]) => (v === "" || v === true ? k : `${k}=${escapeTag(String(v))}`))
    .join(";");
  if (tagText) parts.push("@" + tagText);
  parts.push(command);
  params.forEach((p, i) => {
    const text = String(p).replace(/[\r\n\0]/g, " ");
    const last = i === params.length - 1;
    if (last && (text === "" || text.includes(" ") || text.startsWith(":"))) parts.push(":" + text);
    else parts.push(text);
  });
  return parts.join(" ");
}

/** IRC's default casemapping (rfc1459), for nick and channel keys. */
export function casefold(name) {
  return name.toLowerCase().replace(/[[\]\\~]/g, (c) => ({ "[": "{", "]": "}", "\\": "|", "~": "^" })[c]);
}

export function isChannel(name) {
  return /^[#&]/.test(name);
}

/** One IRC connection over a WebSocket; `onLine(msg)`, `onOpen()`, `onClose(reason)`. */
export class IrcSocket {
  constructor(url, { onLine, onOpen, onClose }) {
    this.onLine = onLine;
    this.onOpen = onOpen;
    this.onClose = onClose;
    this.error = "";
    this.ws = new WebSocket(url, ["text.ircv3.net"]);
    this.ws.addEventListener("open", () => this.onOpen());
    this.ws.addEventListener("message", (ev) => {
      if (typeof ev.data !== "string") return;
      const msg = parseLine(ev.data);
      if (msg.command === "PING") this.send("PONG", msg.params.slice(-1));
      if (msg.command === "ERROR") this.error = msg.params[0] || "";
      this.onLine(msg);
    });
    this.ws.addEventListener("close", () => this.onClose(this.error));
  }

  get open() {
    return this.ws.readyState === WebSocket.OPEN;
  }

  send(command, params = [], tags = {}) {
    if (this.open) this.ws.send(formatLine(command, params, tags));
  }

  close() {
    this.ws.close();
  }
}
