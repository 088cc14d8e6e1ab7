// The web chat widget: one line on any page adds a chat button and window.
//
//   <script src="https://HOST/chat/widget.js" data-queue="support" async></script>
//
// Options (data attributes of that script tag): data-queue (the queue, default
// "support"), data-site (the site in [chat.sites], default "default"), data-lang ("en" or
// "zh-CN"; else the page's <html lang>, else the browser's languages), data-user-id and
// data-user-signature (the host site's signed identity: hex HMAC-SHA256 of the user id),
// data-user-name, data-user-email, data-user-phone (pre-fill the form).
//
// Isolation: everything lives in one shadow root on one host element, styled by a
// constructed stylesheet (host CSS does not reach in, ours does not leak out, and the
// host's CSP on inline styles does not apply); the code is one closure and defines no
// global. Text from the conversation is only ever set as text, never parsed as HTML.
//
// Protocol (docs/chat.md): REST for the configuration, the session, files, the end,
// the transcript and the rating; the websocket /chat/ws for the numbered stream. The
// tab keeps the visitor token, the last seq it holds, the messages and the sends not yet
// acknowledged in sessionStorage, so a reload, a network drop or a phone waking up
// resumes from the last seq: the server sends exactly what was missed, and every
// unacknowledged send is sent again with its client id (the server stores it once).
//
// The server assembles this file with widget.css and strings.json (the two /*@...*/
// markers below) and serves it as /chat/widget.js.
(() => {
  "use strict";

  const STYLE = /*@css*/ "";
  const STRINGS = /*@strings*/ {};

  const script = document.currentScript;
  if (!script || document.querySelector("[data-contact-center-chat]")) return;
  const options = script.dataset;
  const QUEUE = options.queue || "support";
  const SITE = options.site || "default";
  const BASE = new URL(".", script.src);
  const API = new URL("api/", BASE);
  const SOCKET_URL = new URL("ws", BASE);
  SOCKET_URL.protocol = BASE.protocol === "https:" ? "wss:" : "ws:";
  const STORE_KEY = `contact-center-chat:${BASE.origin}:${SITE}:${QUEUE}`;
  const BACKOFF_MS = [500, 1000, 2000, 4000, 8000, 15000];
  const RESEND_AFTER_MS = 6000;
  const TYPING_IDLE_MS = 3000;
  const TYPING_REPEAT_MS = 2000;
  const MAX_KEPT_ITEMS = 500;
  // Closes after which the same token cannot help (docs/chat.md, fatal errors).
  const TOKEN_GONE = new Set([4401]);
  const REFUSED = new Set([4403, 1003, 1007, 1009]);

  // ------------------------------------------------------------------ language
  function pickLanguage() {
    const wanted = [options.lang, document.documentElement.lang, ...(navigator.languages || [navigator.language])];
    for (const tag of wanted) {
      if (!tag) continue;
      const lower = String(tag).toLowerCase();
      // Simplified Chinese for zh, zh-CN, zh-SG, zh-Hans; traditional variants get English.
      if (lower.startsWith("zh")) return /-(tw|hk|mo|hant)\b/.test(lower) ? "en" : "zh-CN";
      if (lower.startsWith("en")) return "en";
    }
    return "en";
  }
  const LANG = pickLanguage();
  const strings = STRINGS[LANG] || STRINGS.en || {};

  function t(key, params) {
    const text = Object.prototype.hasOwnProperty.call(strings, key) ? strings[key] : (STRINGS.en || {})[key] || key;
    if (!params) return text;
    return text.replace(/\{(\w+)\}/g, (whole, name) => (name in params ? String(params[name]) : whole));
  }

  // -------------------------------------------------------------------- DOM
  function h(tag, attributes, ...children) {
    const node = document.createElement(tag);
    for (const [name, value] of Object.entries(attributes || {})) {
      if (value === null || value === undefined || value === false) continue;
      if (name === "class") node.className = value;
      else if (name.startsWith("on") && typeof value === "function") node.addEventListener(name.slice(2), value);
      else if (name === "hidden" || name === "disabled" || name === "required" || name === "checked") node[name] = Boolean(value);
      else if (name === "value") node.value = value;
      else node.setAttribute(name, value === true ? "" : String(value));
    }
    for (const child of children.flat(Infinity)) {
      if (child === null || child === undefined || child === false) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  function icon(path) {
    const svg = document.createElementNS("http://www.w3.org/2000/svg", "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("aria-hidden", "true");
    const shape = document.createElementNS("http://www.w3.org/2000/svg", "path");
    shape.setAttribute("d", path);
    svg.append(shape);
    return svg;
  }
  const ICON_CHAT = "M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H9l-5 4v-4a2 2 0 0 1-2-2V6a2 2 0 0 1 2-2z";
  const ICON_CLOSE = "M6 6l12 12M18 6L6 18";
  const ICON_CLIP = "M16.5 6.5l-7.8 7.8a2 2 0 0 0 2.8 2.8l8-8a4 4 0 0 0-5.6-5.6l-8 8a6 6 0 0 0 8.5 8.5l6.3-6.3";
  const ICON_SEND = "M3 20l18-8L3 4v6l12 2-12 2z";

  function formatSize(bytes) {
    if (bytes >= 1048576) return `${(bytes / 1048576).toFixed(1)} MB`;
    if (bytes >= 1024) return `${Math.round(bytes / 1024)} KB`;
    return `${bytes} B`;
  }

  function formatTime(at) {
    try {
      return new Intl.DateTimeFormat(LANG, { hour: "2-digit", minute: "2-digit" }).format(new Date(at * 1000));
    } catch {
      return "";
    }
  }

  function clientId() {
    const bytes = new Uint8Array(9);
    crypto.getRandomValues(bytes);
    return `v-${Date.now().toString(36)}-${Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("")}`;
  }

  // ------------------------------------------------------------------ the shell
  const host = h("div", { "data-contact-center-chat": "", "data-view": "closed", "data-connection": "none" });
  const shadow = host.attachShadow({ mode: "open" });
  if (shadow.adoptedStyleSheets !== undefined && typeof CSSStyleSheet === "function") {
    const sheet = new CSSStyleSheet();
    sheet.replaceSync(STYLE);
    shadow.adoptedStyleSheets = [sheet];
  } else {
    shadow.append(h("style", {}, STYLE));
  }
  const unread = h("span", { class: "unread", hidden: true });
  const launcher = h("button", { type: "button", class: "launcher", "aria-expanded": "false", onclick: () => setOpen(true) },
    icon(ICON_CHAT), h("span", { class: "launcher-label" }, t("launcher")), unread);
  const statusLine = h("p", { class: "status", role: "status", "aria-live": "polite" });
  const body = h("div", { class: "body" });
  const panel = h("section", { class: "panel", role: "dialog", "aria-label": t("title"), hidden: true, lang: LANG },
    h("header", { class: "head" },
      h("div", {}, h("h2", {}, t("title")), h("p", { class: "subtitle" }, t("subtitle"))),
      h("button", { type: "button", class: "icon-button minimise", "aria-label": t("close"), title: t("close"), onclick: () => setOpen(false) }, icon(ICON_CLOSE))),
    statusLine,
    body);
  shadow.append(launcher, panel);

  // ------------------------------------------------------------------ state
  let config = null;
  let view = "closed";
  let socket = null;
  let live = false;
  let attempt = 0;
  let reconnectTimer = null;
  let hiddenSince = null;
  let typingSentAt = 0;
  let typingIdle = null;
  let agentTyping = false;
  let agentTypingTimer = null;
  let typingTimeoutMs = 5000;
  let position = null;
  let readSent = 0;
  let unreadCount = 0;
  let notice = "";
  // What this tab holds of its conversation (kept in sessionStorage).
  let session = load();

  function blankSession() {
    return { token: null, conversationId: null, seq: 0, items: [], pending: [], status: null,
      agentName: null, agentReadSeq: 0, ended: false, rated: null, email: "", open: false };
  }

  function load() {
    try {
      const saved = JSON.parse(sessionStorage.getItem(STORE_KEY) || "null");
      if (saved && typeof saved === "object" && typeof saved.seq === "number") return { ...blankSession(), ...saved };
    } catch {
      // Storage refused (privacy mode) or damaged: start afresh.
    }
    return blankSession();
  }

  function save() {
    session.items = session.items.slice(-MAX_KEPT_ITEMS);
    try {
      sessionStorage.setItem(STORE_KEY, JSON.stringify(session));
    } catch {
      // Storage full or refused: the chat goes on, a reload starts from the server's start.
    }
  }

  function forget() {
    closeSocket();
    session = { ...blankSession(), open: session.open };
    try {
      sessionStorage.removeItem(STORE_KEY);
    } catch {
      // Nothing to remove.
    }
  }

  // ------------------------------------------------------------------ REST
  class ChatError extends Error {
    constructor(status, id, message, details) {
      super(message || id || `HTTP ${status}`);
      this.status = status;
      this.id = id || `http-${status}`;
      this.details = details || {};
    }
  }

  async function request(method, path, { json, form, raw } = {}) {
    const headers = { Accept: "application/json" };
    if (session.token) headers["X-Chat-Token"] = session.token;
    const init = { method, headers, mode: "cors", credentials: "omit" };
    if (json !== undefined) {
      headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(json);
    } else if (form) {
      init.body = form;
    }
    let response;
    try {
      response = await fetch(new URL(path, API), init);
    } catch (cause) {
      throw new ChatError(0, "network-error", String(cause));
    }
    if (raw && response.ok) return response;
    const text = await response.text();
    let data = null;
    try {
      data = text ? JSON.parse(text) : null;
    } catch {
      data = null;
    }
    if (!response.ok) throw new ChatError(response.status, data && data.error, data && data.message, data && data.details);
    return data;
  }

  const conversationPath = (suffix) => `conversations/${encodeURIComponent(session.conversationId)}${suffix || ""}`;

  async function fetchBlob(path) {
    const response = await request("GET", path, { raw: true });
    return response.blob();
  }

  function saveBlob(blob, name) {
    const url = URL.createObjectURL(blob);
    const link = h("a", { href: url, download: name, hidden: true });
    shadow.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 30000);
  }

  // --------------------------------------------------------------- the socket
  function connect() {
    clearTimeout(reconnectTimer);
    if (!session.token || socket) return;
    setConnection(attempt ? "reconnecting" : "connecting");
    let ws;
    try {
      ws = new WebSocket(SOCKET_URL.href);
    } catch {
      scheduleReconnect();
      return;
    }
    socket = ws;
    ws.addEventListener("open", () => ws.send(JSON.stringify({ type: "hello", token: session.token, resume_from: session.seq })));
    ws.addEventListener("message", (event) => {
      if (socket === ws) receive(event.data);
    });
    ws.addEventListener("close", (event) => {
      if (socket !== ws) return;
      socket = null;
      live = false;
      if (TOKEN_GONE.has(event.code)) return expired();
      if (REFUSED.has(event.code)) return showError(t("unavailable"));
      scheduleReconnect();
    });
  }

  function closeSocket() {
    const ws = socket;
    socket = null;
    live = false;
    clearTimeout(reconnectTimer);
    if (ws) ws.close(1000);
  }

  function scheduleReconnect() {
    if (!session.token || session.ended) return setConnection("none");
    setConnection("reconnecting");
    const delay = BACKOFF_MS[Math.min(attempt, BACKOFF_MS.length - 1)];
    attempt += 1;
    reconnectTimer = setTimeout(connect, delay + Math.random() * 250);
  }

  // A drop the browser knows of: reconnect at once when it is back.
  function reconnectNow() {
    if (!session.token || session.ended) return;
    attempt = Math.max(attempt, 1);
    closeSocket();
    connect();
  }

  function sendFrame(frame) {
    if (socket && live && socket.readyState === WebSocket.OPEN) {
      socket.send(JSON.stringify(frame));
      return true;
    }
    return false;
  }

  function receive(text) {
    let frame;
    try {
      frame = JSON.parse(text);
    } catch {
      return;
    }
    switch (frame.type) {
      case "welcome":
        live = true;
        attempt = 0;
        session.status = frame.status;
        session.agentName = frame.agent_name;
        session.agentReadSeq = Math.max(session.agentReadSeq, frame.agent_read_seq || 0);
        typingTimeoutMs = (frame.typing_timeout_seconds || 5) * 1000;
        if (frame.status === "ended") session.ended = true;
        setConnection("live");
        flushPending(true);
        break;
      case "message":
      case "notice":
        if (frame.seq <= session.seq) return;
        if (frame.seq > session.seq + 1) {
          // A gap: reconnect and resume from what we hold, so nothing is skipped.
          reconnectNow();
          return;
        }
        applyItem(frame);
        break;
      case "ack":
        session.pending = session.pending.filter((p) => p.client_id !== frame.client_id);
        break;
      case "typing":
        setAgentTyping(Boolean(frame.on));
        return;
      case "read":
        session.agentReadSeq = Math.max(session.agentReadSeq, frame.seq);
        break;
      case "position":
        position = frame;
        break;
      case "error":
        onServerError(frame);
        return;
      default:
        return;
    }
    save();
    draw();
  }

  function applyItem(item) {
    session.items.push(item);
    session.seq = item.seq;
    if (item.client_id) session.pending = session.pending.filter((p) => p.client_id !== item.client_id);
    if (item.type === "notice") {
      if (item.kind === "agent_joined") {
        session.status = "active";
        session.agentName = item.agent_name;
        position = null;
      } else if (item.kind === "transferred" || item.kind === "requeued") {
        session.status = "queued";
        setAgentTyping(false);
      } else if (item.kind === "agent_left") {
        setAgentTyping(false);
      } else if (item.kind === "ended") {
        session.ended = true;
        session.status = "ended";
        setAgentTyping(false);
        closeSocket();
      }
    }
    if (item.from === "agent") setAgentTyping(false);
    if (item.from !== "visitor" && (view !== "chat" || panel.hidden || document.hidden)) unreadCount += 1;
  }

  function onServerError(frame) {
    if (frame.error === "chat-token-invalid") return expired();
    if (frame.error === "rate-limited") notice = t("rateLimited");
    else if (frame.error === "message-too-long") notice = t("tooLong", { max: config ? config.max_message_chars : "" });
    else if (frame.error === "chat-ended") {
      session.pending = [];
      session.ended = true;
    } else if (frame.error === "origin-refused") return showError(t("unavailable"));
    else notice = t("error", { message: frame.message || frame.error });
    save();
    draw();
  }

  function expired() {
    forget();
    notice = t("expired");
    showForm();
  }

  // Unacknowledged sends go (again) after a welcome, and while a send waits too long.
  function flushPending(all) {
    const now = Date.now();
    for (const item of session.pending) {
      if (item.kind !== "text") continue;
      if (!all && now - (item.sentAt || 0) < RESEND_AFTER_MS) continue;
      if (sendFrame({ type: "send", client_id: item.client_id, text: item.text })) item.sentAt = now;
    }
  }
  setInterval(() => {
    if (live) flushPending(false);
  }, 2000);

  // ------------------------------------------------------------------ typing, read
  function setAgentTyping(on) {
    clearTimeout(agentTypingTimer);
    agentTyping = on;
    // The server turns typing off after its timeout; this covers a lost "off".
    if (on) agentTypingTimer = setTimeout(() => setAgentTyping(false), typingTimeoutMs + 1000);
    drawTyping();
  }

  function typed() {
    const now = Date.now();
    if (now - typingSentAt > TYPING_REPEAT_MS && sendFrame({ type: "typing", on: true })) typingSentAt = now;
    clearTimeout(typingIdle);
    typingIdle = setTimeout(stopTyping, TYPING_IDLE_MS);
  }

  function stopTyping() {
    clearTimeout(typingIdle);
    if (typingSentAt) sendFrame({ type: "typing", on: false });
    typingSentAt = 0;
  }

  function markRead() {
    if (panel.hidden || document.hidden || view !== "chat") return;
    unreadCount = 0;
    drawUnread();
    const last = session.items.reduce((seq, item) => (item.from !== "visitor" ? Math.max(seq, item.seq) : seq), 0);
    if (last > readSent && sendFrame({ type: "read", seq: last })) readSent = last;
  }

  // ------------------------------------------------------------------ views
  function setView(name) {
    view = name;
    host.dataset.view = name;
  }

  function setConnection(state) {
    host.dataset.connection = state;
    drawStatus();
  }

  function setOpen(open) {
    session.open = open;
    save();
    panel.hidden = !open;
    launcher.hidden = open;
    launcher.setAttribute("aria-expanded", String(open));
    host.dataset.open = String(open);
    if (open) {
      if (view === "closed") start();
      markRead();
      const field = panel.querySelector("textarea, input:not([type=hidden])");
      if (field) field.focus();
    }
  }

  function showError(message) {
    closeSocket();
    setView("error");
    body.replaceChildren(h("div", { class: "section" }, h("p", { class: "error" }, message),
      h("button", { type: "button", class: "button", onclick: start }, t("retry"))));
    drawStatus();
  }

  async function start() {
    setView("loading");
    body.replaceChildren(h("p", { class: "section muted" }, t("loading")));
    const configPath = `config?site=${encodeURIComponent(SITE)}&queue=${encodeURIComponent(QUEUE)}`;
    if (session.token) {
      showChat();
      if (!session.ended) connect();
      // Limits for the reply box; the conversation does not wait for them.
      request("GET", configPath).then((answer) => { config = answer; }).catch(() => {});
      return;
    }
    try {
      config = await request("GET", configPath);
    } catch (error) {
      showError(error.status === 0 ? t("unavailable") : t("error", { message: error.message }));
      return;
    }
    if (config.online) showForm();
    else showOffline(config.offline_reason);
  }

  function field(name, rule, type, value) {
    if (rule === "hidden") return null;
    const label = t(name);
    return h("label", { class: "field" },
      h("span", {}, label, rule === "optional" ? h("span", { class: "muted" }, ` ${t("optional")}`) : null),
      type === "textarea"
        ? h("textarea", { name, rows: 4, required: rule === "required" })
        : h("input", { name, type, required: rule === "required", value: value || "", autocomplete: name === "name" ? "name" : name === "email" ? "email" : "tel" }));
  }

  function formValues(form) {
    const values = {};
    for (const element of form.elements) {
      if (element.name) values[element.name] = element.value.trim() || null;
    }
    return values;
  }

  function identity() {
    return options.userId ? { user_id: options.userId, signature: options.userSignature || "" } : null;
  }

  function showForm() {
    if (!config) {
      start();
      return;
    }
    setView("form");
    const rules = config.form;
    const error = h("p", { class: "error", role: "alert" }, notice);
    notice = "";
    const topics = rules.topics || [];
    const submit = h("button", { type: "submit", class: "button primary" }, t("start"));
    const form = h("form", { class: "section form", novalidate: true },
      h("p", { class: "muted" }, t("formIntro")),
      field("name", rules.name, "text", options.userName),
      field("email", rules.email, "email", options.userEmail),
      field("phone", rules.phone, "tel", options.userPhone),
      topics.length ? h("label", { class: "field" }, h("span", {}, t("topic")),
        h("select", { name: "topic" }, topics.map((topic) => h("option", { value: topic.id }, topic.label)))) : null,
      error, submit);
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const values = formValues(form);
      for (const name of ["name", "email", "phone"]) {
        if (rules[name] === "required" && !values[name]) {
          error.textContent = t("required", { field: t(name) });
          form.elements[name].focus();
          return;
        }
      }
      submit.disabled = true;
      submit.textContent = t("starting");
      try {
        const created = await request("POST", "sessions", { json: {
          site: SITE, queue: QUEUE, topic: values.topic || null, name: values.name || null,
          email: values.email || null, phone: values.phone || null, identity: identity(), language: LANG,
        } });
        session = { ...blankSession(), open: true, token: created.token, conversationId: created.conversation_id,
          status: created.status, email: values.email || "" };
        save();
        showChat();
        connect();
      } catch (failure) {
        submit.disabled = false;
        submit.textContent = t("start");
        if (failure.id === "chat-offline") return showOffline(failure.details.reason);
        error.textContent = failure.id === "rate-limited" ? t("rateLimited")
          : failure.id === "identity-refused" ? t("identity") : t("error", { message: failure.message });
      }
    });
    body.replaceChildren(form);
    drawStatus();
  }

  function showOffline(reason) {
    setView("offline");
    const rules = config ? config.form : { name: "required", phone: "optional" };
    const error = h("p", { class: "error", role: "alert" });
    const submit = h("button", { type: "submit", class: "button primary" }, t("sendMessage"));
    const form = h("form", { class: "section form", novalidate: true },
      h("h3", {}, t("offlineTitle")),
      h("p", { class: "muted" }, reason === "closed" ? t("offlineClosed") : t("offlineNoAgents")),
      field("name", rules.name === "hidden" ? "optional" : rules.name, "text", options.userName),
      field("email", "required", "email", options.userEmail),
      field("phone", rules.phone === "hidden" ? "hidden" : "optional", "tel", options.userPhone),
      field("message", "required", "textarea"),
      error, submit);
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      const values = formValues(form);
      for (const name of ["name", "email", "message"]) {
        if (form.elements[name] && form.elements[name].required && !values[name]) {
          error.textContent = t("required", { field: t(name) });
          form.elements[name].focus();
          return;
        }
      }
      submit.disabled = true;
      try {
        const sent = await request("POST", "offline-messages", { json: {
          site: SITE, queue: QUEUE, name: values.name || null, email: values.email, phone: values.phone || null,
          message: values.message, identity: identity(), language: LANG,
        } });
        setView("offline-sent");
        body.replaceChildren(h("div", { class: "section" }, h("p", { class: "thanks" }, t("offlineSent", { reference: sent.reference }))));
      } catch (failure) {
        submit.disabled = false;
        error.textContent = failure.id === "rate-limited" ? t("rateLimited") : t("error", { message: failure.message });
      }
    });
    body.replaceChildren(form);
    drawStatus();
  }

  // The conversation: built once, then updated in place (the reply box keeps its focus).
  const list = h("ol", { class: "messages", "aria-live": "polite" });
  const typingLine = h("p", { class: "typing", hidden: true });
  const noticeLine = h("p", { class: "notice-line", role: "alert", hidden: true });
  const input = h("textarea", { class: "input", rows: 1, placeholder: t("placeholder"), "aria-label": t("placeholder") });
  const fileInput = h("input", { type: "file", class: "file", hidden: true, tabindex: "-1" });
  const composer = h("form", { class: "composer" },
    h("button", { type: "button", class: "icon-button attach", "aria-label": t("attach"), title: t("attach"), onclick: () => fileInput.click() }, icon(ICON_CLIP)),
    input, fileInput,
    h("button", { type: "submit", class: "icon-button send", "aria-label": t("send"), title: t("send") }, icon(ICON_SEND)));
  const endRow = h("div", { class: "end-row" });
  const after = h("div", { class: "after", hidden: true });
  const chatView = h("div", { class: "chat" }, list, typingLine, noticeLine, composer, endRow, after);

  composer.addEventListener("submit", (event) => {
    event.preventDefault();
    sendText();
  });
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      sendText();
    }
  });
  input.addEventListener("input", () => {
    if (input.value.trim()) typed();
    else stopTyping();
  });
  fileInput.addEventListener("change", () => {
    const [file] = fileInput.files;
    fileInput.value = "";
    if (file) upload(file);
  });

  function showChat() {
    setView("chat");
    body.replaceChildren(chatView);
    list.replaceChildren();
    drawn.clear();
    draw();
  }

  function sendText() {
    const text = input.value.trim();
    if (!text || session.ended) return;
    const max = config ? config.max_message_chars : 4000;
    if (text.length > max) {
      notice = t("tooLong", { max });
      drawNotice();
      return;
    }
    input.value = "";
    stopTyping();
    const item = { kind: "text", client_id: clientId(), text, at: Date.now() / 1000, sentAt: 0 };
    session.pending.push(item);
    if (sendFrame({ type: "send", client_id: item.client_id, text })) item.sentAt = Date.now();
    save();
    draw();
    list.scrollTop = list.scrollHeight;
  }

  async function upload(file) {
    const limits = config ? config.attachments : null;
    if (limits && file.size > limits.max_bytes) {
      notice = t("fileTooBig", { name: file.name, size: formatSize(limits.max_bytes) });
      return drawNotice();
    }
    const item = { kind: "file", client_id: clientId(), text: t("uploading", { name: file.name }), at: Date.now() / 1000 };
    session.pending.push(item);
    draw();
    const form = new FormData();
    form.append("file", file, file.name);
    // Retried with the same client id while the network is away: stored once.
    for (let round = 0; ; round += 1) {
      try {
        const stored = await request("POST", conversationPath(`/attachments?client_id=${item.client_id}`), { form });
        session.pending = session.pending.filter((p) => p.client_id !== item.client_id);
        if (stored && stored.seq === session.seq + 1) applyItem(stored);
        break;
      } catch (failure) {
        if (failure.status === 0 && round < 8) {
          await new Promise((resolve) => setTimeout(resolve, BACKOFF_MS[Math.min(round, BACKOFF_MS.length - 1)]));
          continue;
        }
        session.pending = session.pending.filter((p) => p.client_id !== item.client_id);
        notice = failure.id === "attachment-type-refused" ? t("fileType", { name: file.name })
          : failure.id === "attachment-too-large" ? t("fileTooBig", { name: file.name, size: formatSize(limits ? limits.max_bytes : 0) })
            : t("uploadFailed", { name: file.name, message: failure.message });
        break;
      }
    }
    save();
    draw();
  }

  async function endChat() {
    try {
      await request("POST", conversationPath("/end"));
      session.ended = true;
      session.status = "ended";
      save();
    } catch (failure) {
      notice = t("error", { message: failure.message });
    }
    draw();
  }

  // ------------------------------------------------------------------ drawing
  const drawn = new Map(); // client id or "seq:N" -> list element

  function draw() {
    drawStatus();
    drawUnread();
    if (view !== "chat") return;
    for (const item of session.items) {
      const key = `seq:${item.seq}`;
      if (drawn.has(key)) continue;
      const pendingNode = item.client_id ? drawn.get(`pending:${item.client_id}`) : null;
      const node = drawItem(item);
      if (pendingNode) {
        pendingNode.remove();
        drawn.delete(`pending:${item.client_id}`);
      }
      list.append(node);
      drawn.set(key, node);
    }
    const pendingIds = new Set(session.pending.map((p) => `pending:${p.client_id}`));
    for (const [key, node] of drawn) {
      if (key.startsWith("pending:") && !pendingIds.has(key)) {
        node.remove();
        drawn.delete(key);
      }
    }
    for (const item of session.pending) {
      const key = `pending:${item.client_id}`;
      let node = drawn.get(key);
      if (!node) {
        node = h("li", { class: `item from-visitor pending kind-${item.kind}`, "data-client-id": item.client_id },
          h("div", { class: "bubble" }, h("p", { class: "text" }, item.text)),
          h("p", { class: "meta" }, t("sending")));
        drawn.set(key, node);
      }
      list.append(node); // pending ones stay after the stored ones
    }
    drawReceipts();
    drawTyping();
    drawNotice();
    composer.hidden = session.ended;
    endRow.replaceChildren(session.ended ? "" : h("button", { type: "button", class: "link end", onclick: confirmEnd }, t("end")));
    drawAfter();
    list.scrollTop = list.scrollHeight;
    markRead();
  }

  function drawItem(item) {
    if (item.type === "notice") {
      const name = item.agent_name || t("agent");
      const text = { agent_joined: t("joined", { name }), transferred: t("transferred"), agent_left: t("left", { name }),
        requeued: t("requeued"), ended: t("ended") }[item.kind] || item.kind;
      return h("li", { class: `item notice notice-${item.kind}`, "data-seq": item.seq }, h("p", {}, text));
    }
    const from = item.from === "visitor" ? "visitor" : item.from === "agent" ? "agent" : "system";
    const who = from === "visitor" ? t("you") : item.sender_name || (from === "agent" ? t("agent") : "");
    return h("li", { class: `item from-${from}`, "data-seq": item.seq, "data-client-id": item.client_id || "" },
      from === "agent" ? h("p", { class: "who" }, who) : null,
      h("div", { class: "bubble" },
        item.attachment ? drawAttachment(item.attachment) : null,
        item.attachment && item.text === item.attachment.name ? null : h("p", { class: "text" }, item.text)),
      h("p", { class: "meta" }, h("time", {}, formatTime(item.at)), from === "visitor" ? h("span", { class: "receipt" }) : null));
  }

  function drawAttachment(attachment) {
    const path = conversationPath(`/attachments/${encodeURIComponent(attachment.id)}`);
    const label = `${attachment.name} · ${formatSize(attachment.size)}`;
    if (attachment.preview) {
      const image = h("img", { class: "preview", alt: attachment.name });
      fetchBlob(path).then((blob) => {
        image.src = URL.createObjectURL(blob);
      }).catch(() => image.replaceWith(h("span", { class: "muted" }, attachment.name)));
      return h("button", { type: "button", class: "attachment image", title: label, onclick: () => fetchBlob(path).then((blob) => saveBlob(blob, attachment.name)) }, image);
    }
    return h("button", { type: "button", class: "attachment file", onclick: () => fetchBlob(path).then((blob) => saveBlob(blob, attachment.name)) },
      icon(ICON_CLIP), h("span", {}, label));
  }

  function drawReceipts() {
    for (const node of list.querySelectorAll(".from-visitor[data-seq] .receipt")) {
      const seq = Number(node.closest("[data-seq]").dataset.seq);
      const read = seq <= session.agentReadSeq;
      node.textContent = read ? t("read") : t("sent");
      node.dataset.state = read ? "read" : "sent";
    }
  }

  function drawTyping() {
    typingLine.hidden = !agentTyping || session.ended;
    typingLine.textContent = agentTyping ? t("typing", { name: session.agentName || t("agent") }) : "";
  }

  function drawNotice() {
    noticeLine.hidden = !notice;
    noticeLine.textContent = notice;
  }

  function drawStatus() {
    let text = "";
    const connection = host.dataset.connection;
    if (view === "chat") {
      if (session.ended) text = t("ended");
      else if (connection === "reconnecting") text = t("reconnecting");
      else if (connection === "connecting") text = t("connecting");
      else if (session.status === "active" && session.agentName) text = session.agentName;
      else {
        text = t("waiting");
        if (position) {
          text += ` ${t("position", { position: position.position })}`;
          const wait = position.estimated_wait_seconds;
          if (typeof wait === "number") text += ` ${wait < 60 ? t("waitShort") : t("wait", { minutes: Math.round(wait / 60) })}`;
        }
      }
    }
    statusLine.textContent = text;
    statusLine.hidden = !text;
    statusLine.dataset.state = session.ended ? "ended" : session.status || "";
  }

  function drawUnread() {
    unread.hidden = unreadCount === 0 || !panel.hidden;
    unread.textContent = String(unreadCount);
  }

  function confirmEnd() {
    endRow.replaceChildren(h("span", {}, t("endConfirm")), " ",
      h("button", { type: "button", class: "button danger confirm-end", onclick: endChat }, t("yes")), " ",
      h("button", { type: "button", class: "button", onclick: draw }, t("no")));
  }

  // After the end: rating, transcript download or email, a new chat.
  function drawAfter() {
    after.hidden = !session.ended;
    if (!session.ended || after.dataset.drawn === String(Boolean(session.rated))) return;
    after.dataset.drawn = String(Boolean(session.rated));
    const rating = session.rated
      ? h("p", { class: "thanks" }, t("thanks"))
      : drawRating();
    const email = h("input", { type: "email", name: "transcript-email", value: session.email || "", "aria-label": t("emailTo"), placeholder: t("email") });
    const emailResult = h("p", { class: "muted small", role: "status" });
    after.replaceChildren(
      rating,
      h("div", { class: "transcript" },
        h("button", { type: "button", class: "button download-transcript", onclick: async () => {
          try {
            saveBlob(await fetchBlob(conversationPath("/transcript")), `chat-${session.conversationId}.txt`);
          } catch (failure) {
            emailResult.textContent = t("error", { message: failure.message });
          }
        } }, t("transcript")),
        h("form", { class: "email-transcript", onsubmit: async (event) => {
          event.preventDefault();
          try {
            await request("POST", conversationPath("/transcript-email"), { json: { email: email.value.trim() || null } });
            emailResult.textContent = t("emailSent", { email: email.value.trim() });
          } catch (failure) {
            emailResult.textContent = t("error", { message: failure.message });
          }
        } }, h("label", { class: "field" }, h("span", {}, t("emailTranscript")), email),
        h("button", { type: "submit", class: "button" }, t("emailTranscript"))),
        emailResult),
      h("button", { type: "button", class: "link new-chat", onclick: () => {
        forget();
        session.open = true;
        after.dataset.drawn = "";
        config = null;
        start();
      } }, t("newChat")));
  }

  function drawRating() {
    let chosen = 0;
    const stars = [1, 2, 3, 4, 5].map((n) => h("button", {
      type: "button", class: "star", "data-value": n, "aria-pressed": "false", "aria-label": t("star", { n }), title: t("star", { n }),
      onclick: () => {
        chosen = n;
        for (const star of stars) star.setAttribute("aria-pressed", String(Number(star.dataset.value) <= n));
        submit.disabled = false;
      },
    }, "★"));
    const comment = h("textarea", { name: "comment", rows: 2, "aria-label": t("comment"), placeholder: t("comment"), maxlength: 2000 });
    const error = h("p", { class: "error", role: "alert" });
    const submit = h("button", { type: "submit", class: "button primary", disabled: true }, t("rate"));
    return h("form", { class: "rating", onsubmit: async (event) => {
      event.preventDefault();
      if (!chosen) return;
      try {
        const saved = await request("POST", conversationPath("/rating"), { json: { rating: chosen, comment: comment.value.trim() || null } });
        session.rated = saved;
        save();
        draw();
      } catch (failure) {
        error.textContent = t("error", { message: failure.message });
      }
    } }, h("h3", {}, t("rateTitle")), h("div", { class: "stars", role: "group", "aria-label": t("rateTitle") }, stars), comment, error, submit);
  }

  // ------------------------------------------------------------------ life
  window.addEventListener("offline", () => {
    // The browser knows the network is gone: stop trusting the socket.
    if (socket) closeSocket();
    if (session.token && !session.ended) setConnection("reconnecting");
  });
  window.addEventListener("online", reconnectNow);
  document.addEventListener("visibilitychange", () => {
    if (document.hidden) {
      hiddenSince = Date.now();
      return;
    }
    // A phone waking up: a socket that slept long may be dead without knowing it.
    if (hiddenSince && Date.now() - hiddenSince > 30000) reconnectNow();
    else if (session.token && !socket && !session.ended) connect();
    hiddenSince = null;
    markRead();
  });

  (document.body || document.documentElement).append(host);
  if (session.token) {
    start();
    setOpen(Boolean(session.open));
  } else {
    setOpen(false);
  }
})();
