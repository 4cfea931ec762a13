// The web messenger: IRC over the WebSocket at /irc, like any client (draft/chathistory,
// draft/read-marker, server-time, batch, echo-message, labeled-response, standard-replies and
// the server's UNREAD, DELAY and COMPLAIN). User text only ever goes into the page as text
// (textContent), never as HTML.

import { IrcSocket, casefold, isChannel } from "./irc.js";

const CAPS = [
  "batch", "draft/chathistory", "draft/read-marker", "echo-message", "labeled-response",
  "message-tags", "server-time", "standard-replies", "account-tag", "multi-prefix",
];
const SERVICE = "messenger";
const $ = (id) => document.getElementById(id);

const state = {
  nick: "", password: "", me: "", sock: null, registered: false, stopped: true,
  convs: new Map(), // key -> conversation
  active: "", labels: new Map(), labelSeq: 0, batches: new Map(), unreadLabel: "",
  retry: 0, retryTimer: 0, localSeq: 0,
};

// ------------------------------------------------------------------ conversations

function conv(name) {
  const key = casefold(name);
  let c = state.convs.get(key);
  if (!c) {
    c = { key, name, channel: isChannel(name), msgs: [], ids: new Set(), unread: 0,
          unreadFrom: null, members: new Map(), joined: false };
    state.convs.set(key, c);
    if (!state.active) state.active = key;
    renderConvList();
  }
  return c;
}

function addMessage(c, m, { history = false } = {}) {
  if (m.id && c.ids.has(m.id)) {
    if (m.unread && !history) return;
    const old = c.msgs.find((x) => x.id === m.id);
    if (old && m.unread && !old.unread) {
      old.unread = true;
      markUnread(c, old);
    }
    return;
  }
  if (m.id) c.ids.add(m.id);
  c.msgs.push(m);
  c.msgs.sort((a, b) => a.time - b.time || a.seq - b.seq);
  if (m.unread) markUnread(c, m);
  else if (!history && !m.mine && m.kind !== "system" && (c.key !== state.active || document.hidden)) {
    c.unread += 1;
  }
  renderConvList();
  if (c.key === state.active) renderMessages();
}

function markUnread(c, m) {
  if (!c.unreadFrom || m.time < c.unreadFrom.time) c.unreadFrom = m;
  if (c.key !== state.active) c.unread += 1;
}

function message(msg, extra = {}) {
  const t = msg.tags.time ? new Date(msg.tags.time) : new Date();
  return {
    id: msg.tags.msgid || "", time: t, seq: ++state.localSeq, from: msg.nick,
    text: msg.params[msg.params.length - 1] || "", kind: msg.command === "NOTICE" ? "notice" : "msg",
    mine: casefold(msg.nick) === casefold(state.me), unread: false, ...extra,
  };
}

function system(text, c = activeConv()) {
  if (!c) {
    status(text);
    return;
  }
  addMessage(c, { id: "", time: new Date(), seq: ++state.localSeq, from: "", text, kind: "system", mine: false });
}

function activeConv() {
  return state.convs.get(state.active);
}

function open(key) {
  const c = state.convs.get(key);
  if (!c) return;
  state.active = key;
  c.unread = 0;
  renderConvList();
  renderMessages();
  renderMembers();
  $("sidebar").classList.remove("open");
  $("toggle-chats").setAttribute("aria-expanded", "false");
  markRead(c);
  $("input").focus();
}

function markRead(c) {
  const last = [...c.msgs].reverse().find((m) => m.id);
  if (last && state.sock) state.sock.send("MARKREAD", [c.name, `timestamp=${last.time.toISOString()}`]);
}

// ------------------------------------------------------------------ rendering (text only)

function el(tag, cls, text) {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

function dayLabel(d) {
  const today = new Date();
  const yesterday = new Date(today.getTime() - 86400000);
  if (d.toDateString() === today.toDateString()) return "Today";
  if (d.toDateString() === yesterday.toDateString()) return "Yesterday";
  return d.toLocaleDateString(undefined, { weekday: "long", year: "numeric", month: "long", day: "numeric" });
}

function renderConvList() {
  const list = $("conv-list");
  list.replaceChildren();
  const convs = [...state.convs.values()].sort((a, b) => (b.channel - a.channel) || a.key.localeCompare(b.key));
  for (const c of convs) {
    const li = el("li");
    const b = el("button");
    b.type = "button";
    b.dataset.conv = c.key;
    b.setAttribute("aria-current", String(c.key === state.active));
    b.append(el("span", "name", c.name));
    if (c.unread) {
      const badge = el("span", "badge", String(c.unread));
      badge.setAttribute("aria-label", `${c.unread} unread`);
      b.append(badge);
    }
    b.addEventListener("click", () => open(c.key));
    li.append(b);
    list.append(li);
  }
}

function renderMessages() {
  const c = activeConv();
  const list = $("messages");
  $("conv-title").textContent = c ? c.name : "";
  if (!c) {
    list.replaceChildren();
    return;
  }
  const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 40;
  const items = [];
  let day = "";
  for (const m of c.msgs) {
    const d = m.time.toDateString();
    if (d !== day) {
      day = d;
      items.push(el("li", "day", dayLabel(m.time)));
    }
    if (m === c.unreadFrom) items.push(el("li", "unread-sep", "Unread since your last visit"));
    const li = el("li", "msg");
    if (m.mine) li.classList.add("mine");
    if (m.kind === "system") li.classList.add("system");
    if (m.pending) li.classList.add("pending");
    if (m.refusal) li.classList.add("refused");
    if (m.label) li.dataset.label = m.label;
    const time = el("time", "meta", m.time.toLocaleTimeString(undefined, { hour: "2-digit", minute: "2-digit" }));
    time.dateTime = m.time.toISOString();
    li.append(time);
    if (m.from) li.append(el("span", "from", m.kind === "notice" ? `-${m.from}-` : m.from));
    li.append(el("span", "text", m.text));
    if (m.pending) li.append(el("span", "meta", " (sending…)"));
    if (m.refusal) li.append(el("span", "refusal", `Not sent: ${m.refusal}`));
    items.push(li);
  }
  list.replaceChildren(...items);
  if (atBottom || items.length < 30) list.scrollTop = list.scrollHeight;
}

function renderMembers() {
  const c = activeConv();
  const list = $("members");
  list.replaceChildren();
  if (!c) return;
  const names = c.channel ? [...c.members.values()].sort((a, b) => a.localeCompare(b)) : [c.name];
  for (const name of names) {
    const li = el("li");
    const b = el("button", "", name);
    b.type = "button";
    b.title = casefold(name) === casefold(state.me) ? "You" : `Chat privately with ${name}`;
    b.disabled = casefold(name) === casefold(state.me);
    b.addEventListener("click", () => {
      const p = conv(name);
      fetchHistory(p.name);
      open(p.key);
      $("complain-nick").value = name;
    });
    li.append(b);
    list.append(li);
  }
}

const pending = new Map(); // id -> {target, due, text}
function renderPending() {
  const list = $("pending");
  list.replaceChildren();
  if (!pending.size) list.append(el("li", "", "Nothing scheduled."));
  for (const [id, p] of pending) {
    const li = el("li");
    li.append(el("div", "", `#${id} to ${p.target}, ${new Date(p.due).toLocaleString()}`));
    li.append(el("div", "text", p.text));
    const b = el("button", "secondary", "Cancel");
    b.type = "button";
    b.setAttribute("aria-label", `Cancel scheduled message #${id}`);
    b.addEventListener("click", () => state.sock.send("DELAY", ["CANCEL", id]));
    li.append(b);
    list.append(li);
  }
}

function status(text) {
  $("status").textContent = text;
}

function banner(text) {
  const b = $("banner");
  b.textContent = text;
  b.hidden = !text;
}

// ------------------------------------------------------------------ the connection

function connect() {
  clearTimeout(state.retryTimer);
  state.stopped = false;
  state.registered = false;
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  state.sock = new IrcSocket(`${scheme}//${location.host}/irc`, {
    onOpen: () => {
      const s = state.sock;
      s.send("CAP", ["LS", "302"]);
      if (state.password) s.send("PASS", [state.password]);
      s.send("NICK", [state.nick]);
      s.send("USER", [state.nick, "0", "*", state.nick]);
    },
    onLine: handle,
    onClose: closed,
  });
  sendEnabled();
}

function closed(reason) {
  state.sock = null;
  state.unreadLabel = "";
  state.batches.clear();
  for (const lbl of [...state.labels.keys()]) refuse(lbl, "the connection was lost; send it again");
  sendEnabled();
  if (state.stopped) return;
  if (!state.registered && state.loginError) {
    showLogin(state.loginError);
    return;
  }
  state.retry = Math.min(state.retry + 1, 6);
  const wait = Math.min(1000 * 2 ** (state.retry - 1), 15000);
  banner(`Disconnected${reason ? ` (${reason})` : ""}. Reconnecting in ${Math.round(wait / 1000)} s… What you typed is kept.`);
  status("offline");
  state.retryTimer = setTimeout(connect, wait);
}

function sendEnabled() {
  const on = Boolean(state.sock && state.registered);
  for (const id of ["send", "schedule-send", "quota-button"]) $(id).disabled = !on;
}

function label() {
  state.labelSeq += 1;
  return `w${state.labelSeq}`;
}

function fetchHistory(target) {
  state.sock.send("CHATHISTORY", ["LATEST", target, "*", "100"]);
}

function batchOf(msg) {
  let id = msg.tags.batch;
  const chain = [];
  while (id && state.batches.has(id)) {
    chain.push(state.batches.get(id));
    id = state.batches.get(id).parent;
  }
  return chain;
}

function labelOf(msg) {
  if (msg.tags.label) return msg.tags.label;
  for (const b of batchOf(msg)) if (b.label) return b.label;
  return "";
}

function refuse(lbl, text) {
  const p = state.labels.get(lbl);
  if (!p || !p.msg) return false;
  p.msg.pending = false;
  p.msg.refusal = text.replace(/^message not sent[.:]\s*/i, "");
  state.labels.delete(lbl);
  if (p.conv.key === state.active) renderMessages();
  return true;
}

function handle(msg) {
  const p = msg.params;
  const lbl = labelOf(msg);
  switch (msg.command) {
    case "CAP":
      if (p[1] === "LS") {
        const offered = new Set(p[p.length - 1].split(" ").map((x) => x.split("=")[0]));
        if (p[2] === "*") break; // more to come
        const want = CAPS.filter((c) => offered.has(c));
        state.sock.send("CAP", ["REQ", want.join(" ")]);
      } else if (p[1] === "ACK" || p[1] === "NAK") {
        state.sock.send("CAP", ["END"]);
      }
      break;
    case "001":
      state.me = p[0];
      state.registered = true;
      state.retry = 0;
      state.loginError = "";
      banner("");
      status("online");
      $("me").textContent = state.me;
      showApp();
      sendEnabled();
      state.sock.send("CHATHISTORY", ["TARGETS", "timestamp=2000-01-01T00:00:00.000Z", `timestamp=${new Date(Date.now() + 86400000).toISOString()}`, "50"]);
      state.sock.send("DELAY", ["LIST"], { label: label() });
      break;
    case "432": case "433": case "464": case "465": case "904":
      state.loginError = p[p.length - 1];
      if (!state.registered) state.sock.close();
      break;
    case "ERROR":
      if (!state.registered && /password|banned|refused|too many/i.test(p[0] || "")) state.loginError = p[0];
      break;
    case "JOIN": {
      const c = conv(p[0]);
      c.members.set(casefold(msg.nick), msg.nick);
      if (casefold(msg.nick) === casefold(state.me)) {
        c.joined = true;
        fetchHistory(c.name);
        if (state.joining === c.key) open(c.key);
      }
      if (c.key === state.active) renderMembers();
      break;
    }
    case "PART": case "KICK": {
      const c = conv(p[0]);
      const who = msg.command === "KICK" ? p[1] : msg.nick;
      c.members.delete(casefold(who));
      if (casefold(who) === casefold(state.me)) c.joined = false;
      if (c.key === state.active) renderMembers();
      break;
    }
    case "QUIT":
      for (const c of state.convs.values()) c.members.delete(casefold(msg.nick));
      renderMembers();
      break;
    case "NICK":
      for (const c of state.convs.values()) {
        if (c.members.delete(casefold(msg.nick))) c.members.set(casefold(p[0]), p[0]);
      }
      if (casefold(msg.nick) === casefold(state.me)) state.me = p[0];
      renderMembers();
      break;
    case "353": {
      const c = conv(p[2]);
      for (const n of p[3].split(" ")) {
        const name = n.replace(/^[~&@%+]+/, "").split("!")[0];
        if (name) c.members.set(casefold(name), name);
      }
      if (c.key === state.active) renderMembers();
      break;
    }
    case "BATCH": {
      const id = p[0].slice(1);
      if (p[0].startsWith("+")) {
        state.batches.set(id, { type: p[1], target: p[2] || "", label: msg.tags.label || "", parent: msg.tags.batch || "" });
      } else {
        state.batches.delete(id);
      }
      break;
    }
    case "PRIVMSG": case "NOTICE":
      onMessage(msg, lbl);
      break;
    case "CHATHISTORY":
      if (p[0] === "TARGETS" && !isChannel(p[1]) && casefold(p[1]) !== SERVICE) {
        conv(p[1]);
        fetchHistory(p[1]);
      }
      break;
    case "FAIL": case "NOTE": case "WARN":
      onStandardReply(msg, lbl);
      break;
    case "404": case "531": case "401": case "403": case "442": case "477": case "416":
      if (!refuse(lbl, p[p.length - 1])) system(p.slice(1).join(": "));
      break;
    case "417":
      if (!refuse(lbl, "the message is too long")) system(p[p.length - 1]);
      break;
    case "405": case "471": case "473": case "474": case "475": case "476": case "479":
      system(`${p[1]}: ${p[p.length - 1]}`);
      break;
    default:
      break;
  }
}

function onMessage(msg, lbl) {
  const p = msg.params;
  const target = p[0];
  const text = p[p.length - 1] || "";
  if (!msg.source.includes("!") || casefold(msg.nick) === SERVICE) {
    // the server's and the Messenger service's notices: quota, complaints, summaries
    if (msg.command === "NOTICE") {
      if (!refuse(lbl, text)) {
        if (/^You can send|more channel messages/.test(text)) status(text);
        system(text);
      }
    }
    return;
  }
  const batches = batchOf(msg);
  const history = batches.some((b) => b.type === "chathistory");
  const unread = history && state.unreadLabel && batches.some((b) => b.label === state.unreadLabel);
  const mine = casefold(msg.nick) === casefold(state.me);
  const peer = isChannel(target) ? target : mine ? target : msg.nick;
  const c = conv(peer);
  if (lbl && state.labels.has(lbl)) {
    const pend = state.labels.get(lbl);
    state.labels.delete(lbl);
    if (pend.msg) {
      pend.msg.pending = false;
      pend.msg.id = msg.tags.msgid || "";
      if (pend.msg.id) c.ids.add(pend.msg.id);
      if (msg.tags.time) pend.msg.time = new Date(msg.tags.time);
      if (c.key === state.active) renderMessages();
      return;
    }
  }
  addMessage(c, message(msg, { unread }), { history });
}

function onStandardReply(msg, lbl) {
  const [command, code, ...ctx] = msg.params;
  const text = ctx.pop() || "";
  if (msg.command === "FAIL" && refuse(lbl, text)) return;
  if (command === "UNREAD" && code === "PENDING") {
    if (Number(ctx[0]) > 0) {
      state.unreadLabel = label();
      state.sock.send("UNREAD", [], { label: state.unreadLabel });
    }
    return;
  }
  if (command === "DELAY") {
    if (code === "ENTRY") {
      const [id, target, due] = ctx;
      const body = text.includes("): ") ? text.slice(text.indexOf("): ") + 3) : text;
      pending.set(id, { target, due, text: body });
      renderPending();
      return;
    }
    if (code === "END") {
      renderPending();
      return;
    }
    if (code === "SCHEDULED" || code === "CANCELLED") {
      system(text);
      pending.clear();
      state.sock.send("DELAY", ["LIST"], { label: label() });
      return;
    }
  }
  if (command === "MARKREAD") return;
  system(text);
}

// ------------------------------------------------------------------ sending

function sendText(scheduleAt) {
  const input = $("input");
  const text = input.value.replace(/\s+$/, "");
  const c = activeConv();
  if (!text || !c || !state.registered) return;
  const lbl = label();
  if (scheduleAt) {
    state.sock.send("DELAY", ["AT", scheduleAt.toISOString().replace(/\.\d+Z$/, "Z"), c.name, text], { label: lbl });
  } else {
    const m = { id: "", time: new Date(), seq: ++state.localSeq, from: state.me, text, kind: "msg", mine: true, pending: true, label: lbl };
    state.labels.set(lbl, { conv: c, msg: m });
    addMessage(c, m);
    state.sock.send("PRIVMSG", [c.name, text], { label: lbl });
  }
  input.value = "";
  sessionStorage.removeItem("draft");
}

// ------------------------------------------------------------------ screens

function showLogin(error = "") {
  state.stopped = true;
  $("login").hidden = false;
  $("app").hidden = true;
  $("login-error").textContent = error;
  $("login-nick").focus();
}

function showApp() {
  $("login").hidden = true;
  $("app").hidden = false;
  renderConvList();
  renderMessages();
  renderMembers();
  renderPending();
}

function start(nick, password) {
  state.nick = nick;
  state.password = password;
  state.convs.clear();
  state.active = "";
  state.loginError = "";
  $("login-error").textContent = "";
  connect();
}

function setup() {
  $("login-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    start($("login-nick").value.trim(), $("login-password").value);
  });
  $("login-guest").addEventListener("click", () => {
    const nick = $("login-nick").value.trim();
    if (!$("login-nick").reportValidity()) return;
    start(nick, "");
  });
  $("composer").addEventListener("submit", (ev) => {
    ev.preventDefault();
    sendText(null);
  });
  $("input").addEventListener("keydown", (ev) => {
    if (ev.key === "Enter" && !ev.shiftKey) {
      ev.preventDefault();
      sendText(null);
    }
  });
  $("input").addEventListener("input", () => sessionStorage.setItem("draft", $("input").value));
  $("input").value = sessionStorage.getItem("draft") || "";
  $("schedule-send").addEventListener("click", () => {
    const v = $("schedule-at").value;
    const at = v ? new Date(v) : null;
    if (!at || Number.isNaN(at.getTime())) {
      system("Pick a date and time to schedule the message.");
      return;
    }
    sendText(at);
  });
  $("join-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    let name = $("join-name").value.trim();
    if (!name) return;
    if (!isChannel(name)) name = "#" + name;
    state.joining = casefold(name);
    state.sock.send("JOIN", [name]);
    $("join-name").value = "";
  });
  $("complain-form").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const nick = $("complain-nick").value.trim();
    const reason = $("complain-reason").value.trim();
    state.sock.send("COMPLAIN", reason ? [nick, reason] : [nick], { label: label() });
    $("complain-reason").value = "";
  });
  $("quota-button").addEventListener("click", () => state.sock.send("PRIVMSG", ["Messenger", "quota"]));
  $("pending-refresh").addEventListener("click", () => {
    pending.clear();
    state.sock.send("DELAY", ["LIST"], { label: label() });
  });
  $("logout").addEventListener("click", () => {
    state.stopped = true;
    if (state.sock) {
      state.sock.send("QUIT", ["Logged out"]);
      state.sock.close();
    }
    showLogin();
  });
  for (const [button, panel] of [["toggle-chats", "sidebar"], ["toggle-people", "people"]]) {
    $(button).addEventListener("click", () => {
      const open = $(panel).classList.toggle("open");
      $(button).setAttribute("aria-expanded", String(open));
    });
  }
  document.addEventListener("visibilitychange", () => {
    const c = activeConv();
    if (!document.hidden && c) {
      c.unread = 0;
      renderConvList();
      markRead(c);
    }
  });
  // a page being closed says goodbye, so that what it showed counts as received
  window.addEventListener("pagehide", () => {
    if (state.sock && state.registered) state.sock.send("QUIT", ["Page closed"]);
  });
  const soon = new Date(Date.now() + 10 * 60000);
  soon.setSeconds(0, 0);
  const pad = (n) => String(n).padStart(2, "0");
  $("schedule-at").value = `${soon.getFullYear()}-${pad(soon.getMonth() + 1)}-${pad(soon.getDate())}T${pad(soon.getHours())}:${pad(soon.getMinutes())}`;
  showLogin();
}

setup();
