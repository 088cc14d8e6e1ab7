// The console's chat panes: one per chat the agent holds, shown in the work area when
// its tab is selected (several chats at once: console.js draws the tabs).
//
// A pane is built once per chat and updated in place, so the reply box keeps its text,
// caret and focus while messages arrive. Messages come from the hub's `chat` messages
// (docs/hub.md); a gap in the conversation's own `seq`, a hub snapshot or a chat seen
// for the first time fetches what is missing (GET /api/v1/chats/{id}/messages). Every
// message shown is keyed by that `seq`, so nothing is shown twice.
//
// Sending: each reply gets a client id and is posted until the server answers (a
// network failure retries with the same id: the server stores it once). Typing and read
// receipts both ways; attachments (images previewed); canned responses (console_chat_canned.js);
// transfer to a queue or colleague; end (then wrap-up, as for any contact).

import { api, ApiError } from "./api.js";
import { el, replace, toast } from "./dom.js";
import { formatDate, t } from "./i18n.js";
import { pageData } from "./page.js";
import { CannedMenu } from "./console_chat_canned.js";

const RETRY_MS = [500, 1000, 2000, 4000, 8000, 15000];
const TYPING_REPEAT_MS = 2500;
const TYPING_IDLE_MS = 3000;
const NOTICE_TEXT = {
  agent_joined: (name) => t("{name} joined the chat", { name }),
  transferred: () => t("The chat was transferred"),
  agent_left: (name) => t("{name} left the chat", { name }),
  requeued: () => t("The chat went back to the queue"),
  ended: () => t("The chat has ended"),
};

function newClientId() {
  const bytes = new Uint8Array(8);
  crypto.getRandomValues(bytes);
  return `a-${Date.now().toString(36)}-${Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("")}`;
}

function formatSize(bytes) {
  if (bytes >= 1048576) return `${(bytes / 1048576).toFixed(1)} MB`;
  if (bytes >= 1024) return `${Math.round(bytes / 1024)} KB`;
  return `${bytes} B`;
}

const chatPath = (contactId, suffix) => `/api/v1/chats/${encodeURIComponent(contactId)}${suffix || ""}`;

// Upload a file (multipart): api() speaks JSON only.
async function postFile(path, file) {
  const form = new FormData();
  form.append("file", file, file.name);
  let response;
  try {
    response = await fetch(path, { method: "POST", body: form, credentials: "same-origin",
      headers: { "X-CSRF-Token": pageData().csrf_token || "", Accept: "application/json" } });
  } catch (cause) {
    throw new ApiError(0, "network-error", "the server cannot be reached", { cause: String(cause) });
  }
  const data = await response.json().catch(() => null);
  if (!response.ok) throw new ApiError(response.status, data && data.error, data && data.message, data && data.details);
  return data;
}

class ChatConversation {
  constructor(desk, item) {
    this.desk = desk;
    this.contactId = item.contactId;
    this.queue = item.queue;
    this.messages = new Map(); // seq -> message
    this.lastSeq = 0;
    this.pending = []; // {client_id, text, state: "sending" | "failed", error}
    this.visitorTyping = false;
    this.visitorTypingTimer = null;
    this.visitorReadSeq = 0;
    this.visitorName = null;
    this.status = null;
    this.unread = 0;
    this.readSent = 0;
    this.typingSentAt = 0;
    this.typingIdle = null;
    this.fetching = null;
    this.ended = false;
    this.transferOpen = false;
    this.build();
  }

  // ------------------------------------------------------------------ building
  build() {
    const id = this.contactId;
    this.title = el("h2", {}, t("Chat"));
    this.subtitle = el("p", { class: "muted small" }, t("Queue {queue}", { queue: this.queue }));
    this.badge = el("span", { class: "badge badge-connected chat-status" }, t("Connected"));
    this.list = el("ol", { class: "chat-messages", "aria-live": "polite", "aria-label": t("Conversation") });
    this.typingLine = el("p", { class: "chat-typing", hidden: true });
    this.input = el("textarea", {
      id: `chat-reply-${id}`, class: "chat-input", rows: 2, "aria-label": t("Reply"),
      placeholder: t("Reply… (Enter sends, Shift+Enter new line, / or Ctrl+K canned responses)"),
    });
    this.fileInput = el("input", { type: "file", hidden: true, tabindex: "-1" });
    this.canned = new CannedMenu(this.input, {
      queue: this.queue, contactId: id, onPick: () => this.typed(),
    });
    this.replyForm = el("form", { class: "chat-reply" },
      this.canned.element,
      this.input,
      el("div", { class: "chat-reply-actions" },
        el("button", { type: "button", class: "button button-small button-quiet", "data-action": "chat-attach",
          onclick: () => this.fileInput.click() }, t("Attach a file")),
        el("button", { type: "button", class: "button button-small button-quiet", "data-action": "chat-canned",
          onclick: () => this.canned.open("") }, t("Canned responses"), " ", el("kbd", {}, "/")),
        el("span", { class: "spacer" }),
        el("button", { type: "submit", class: "button button-primary", "data-action": "chat-send" }, t("Send"))),
      this.fileInput);
    this.transferBox = el("div", { class: "chat-transfer", hidden: true });
    this.actions = el("div", { class: "chat-actions" },
      el("button", { type: "button", class: "button", "data-action": "chat-transfer", onclick: () => this.toggleTransfer() }, t("Transfer")),
      el("button", { type: "button", class: "button button-danger", "data-action": "chat-end", onclick: () => this.confirmEnd() }, t("End chat")));
    this.element = el("section", { class: "work-card contact-card channel-chat chat-card", "data-contact-id": id },
      el("header", { class: "work-head" },
        el("span", { class: "channel-icon", "aria-hidden": "true" }, "✎"),
        el("div", { class: "work-title" }, this.title, this.subtitle),
        this.badge),
      this.list, this.typingLine, this.replyForm, this.transferBox, this.actions);

    this.replyForm.addEventListener("submit", (event) => {
      event.preventDefault();
      this.send();
    });
    this.input.addEventListener("keydown", (event) => {
      if (this.canned.handleKey(event)) return;
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        this.send();
      }
    });
    this.input.addEventListener("input", () => {
      this.canned.update();
      if (this.input.value.trim()) this.typed();
      else this.stopTyping();
    });
    this.input.addEventListener("focus", () => this.markRead());
    this.fileInput.addEventListener("change", () => {
      const [file] = this.fileInput.files;
      this.fileInput.value = "";
      if (file) this.upload(file);
    });
  }

  // ------------------------------------------------------------------ stream
  // Fetch what this console does not hold yet; a request while one runs fetches again
  // after it, so a message that arrived during the first is not skipped.
  load() {
    this.needsFetch = true;
    if (this.fetching) return this.fetching;
    this.fetching = (async () => {
      while (this.needsFetch) {
        this.needsFetch = false;
        try {
          const [chat, page] = await Promise.all([
            this.status === null ? api("GET", chatPath(this.contactId)) : Promise.resolve(null),
            api("GET", `${chatPath(this.contactId, "/messages")}?after_seq=${this.lastSeq}&limit=500`),
          ]);
          if (chat) {
            this.status = chat.status;
            this.visitorName = chat.visitor_name;
            this.visitorReadSeq = Math.max(this.visitorReadSeq, chat.visitor_read_seq || 0);
            this.readSent = Math.max(this.readSent, chat.agent_read_seq || 0);
            if (chat.status === "ended") this.ended = true;
          }
          for (const message of page.items || []) this.add(message, { fromFetch: true });
          this.draw();
        } catch (error) {
          if (error.status !== 404) toast(t("Could not load the chat: {message}", { message: error.message }), "error");
          break;
        }
      }
      this.fetching = null;
    })();
    return this.fetching;
  }

  // A message of the conversation's numbered stream, from the hub or a fetch.
  add(message, { fromFetch = false } = {}) {
    const seq = message.seq;
    if (this.messages.has(seq)) return;
    if (!fromFetch && seq > this.lastSeq + 1) {
      // Something was missed (a hub gap or a reload): fetch it, in order.
      this.load();
      return;
    }
    const normal = message.type === "notice"
      ? { seq, client_id: null, from: "system", text: "", at: message.at, sender_name: message.agent_name, attachment: null, notice: message.kind }
      : message;
    this.messages.set(seq, normal);
    this.lastSeq = Math.max(this.lastSeq, seq);
    if (normal.client_id) this.pending = this.pending.filter((p) => p.client_id !== normal.client_id);
    if (normal.from === "visitor") {
      this.setVisitorTyping(false);
      if (normal.sender_name) this.visitorName = normal.sender_name;
      if (!this.isVisible()) this.unread += 1;
    }
    if (normal.notice === "ended") this.ended = true;
  }

  onHub(message) {
    if (message.event === "message" && message.message) {
      this.add(message.message);
    } else if (message.event === "typing") {
      this.setVisitorTyping(Boolean(message.typing));
    } else if (message.event === "read" && typeof message.read_seq === "number") {
      this.visitorReadSeq = Math.max(this.visitorReadSeq, message.read_seq);
    }
    this.draw();
  }

  setVisitorTyping(on) {
    clearTimeout(this.visitorTypingTimer);
    this.visitorTyping = on;
    // The server turns typing off after a few seconds; this covers a lost "off".
    if (on) this.visitorTypingTimer = setTimeout(() => { this.setVisitorTyping(false); this.draw(); }, 7000);
  }

  // ------------------------------------------------------------------ actions
  isVisible() {
    return this.element.isConnected && !document.hidden;
  }

  markRead() {
    if (!this.isVisible() || this.desk.phaseOf(this.contactId) === "offered") return;
    this.unread = 0;
    let last = 0;
    for (const message of this.messages.values()) if (message.from === "visitor") last = Math.max(last, message.seq);
    if (last <= this.readSent) return;
    this.readSent = last;
    api("POST", chatPath(this.contactId, "/read"), { seq: last }).catch(() => {
      this.readSent = 0; // told again with the next message
    });
  }

  typed() {
    const now = Date.now();
    if (now - this.typingSentAt > TYPING_REPEAT_MS) {
      this.typingSentAt = now;
      api("POST", chatPath(this.contactId, "/typing"), { on: true }).catch(() => {});
    }
    clearTimeout(this.typingIdle);
    this.typingIdle = setTimeout(() => this.stopTyping(), TYPING_IDLE_MS);
  }

  stopTyping() {
    clearTimeout(this.typingIdle);
    if (!this.typingSentAt) return;
    this.typingSentAt = 0;
    api("POST", chatPath(this.contactId, "/typing"), { on: false }).catch(() => {});
  }

  send() {
    const text = this.input.value.trim();
    if (!text) return;
    this.input.value = "";
    this.canned.close();
    this.stopTyping();
    const pending = { client_id: newClientId(), text, state: "sending", error: null };
    this.pending.push(pending);
    this.draw();
    this.deliver(pending);
  }

  // Post until the server answers; a network failure retries with the same client id.
  async deliver(pending) {
    for (let round = 0; ; round += 1) {
      try {
        const answer = await api("POST", chatPath(this.contactId, "/messages"), { client_id: pending.client_id, text: pending.text });
        this.pending = this.pending.filter((p) => p !== pending);
        if (answer && answer.message) this.add(answer.message);
        break;
      } catch (error) {
        if (error.status === 0 || error.status >= 500) {
          pending.state = "retrying";
          this.draw();
          await new Promise((resolve) => setTimeout(resolve, RETRY_MS[Math.min(round, RETRY_MS.length - 1)]));
          if (!this.pending.includes(pending)) return;
          continue;
        }
        pending.state = "failed";
        pending.error = error.message;
        break;
      }
    }
    this.draw();
  }

  retry(pending) {
    pending.state = "sending";
    pending.error = null;
    this.draw();
    this.deliver(pending);
  }

  discard(pending) {
    this.pending = this.pending.filter((p) => p !== pending);
    this.draw();
  }

  async upload(file) {
    const pending = { client_id: newClientId(), text: t("Sending {name}…", { name: file.name }), state: "sending", error: null, file: true };
    this.pending.push(pending);
    this.draw();
    try {
      const answer = await postFile(`${chatPath(this.contactId, "/attachments")}?client_id=${pending.client_id}`, file);
      this.pending = this.pending.filter((p) => p !== pending);
      if (answer && answer.message) this.add(answer.message);
    } catch (error) {
      pending.state = "failed";
      pending.error = error.message;
    }
    this.draw();
  }

  toggleTransfer() {
    this.transferOpen = !this.transferOpen;
    this.drawTransfer();
  }

  drawTransfer() {
    this.transferBox.hidden = !this.transferOpen;
    if (!this.transferOpen) return;
    const kind = el("select", { id: `chat-transfer-kind-${this.contactId}`, "aria-label": t("Transfer to") },
      el("option", { value: "queue" }, t("A queue")), el("option", { value: "agent" }, t("A colleague")));
    const target = el("select", { id: `chat-transfer-target-${this.contactId}`, "aria-label": t("Target") });
    const fill = () => {
      const options = kind.value === "queue"
        ? this.desk.chatQueues().map((name) => el("option", { value: name }, name))
        : this.desk.colleagues().map((agent) => el("option", { value: String(agent.id) }, agent.name));
      replace(target, options);
    };
    kind.addEventListener("change", fill);
    fill();
    const go = el("button", { type: "submit", class: "button button-primary", "data-action": "chat-transfer-go" }, t("Transfer"));
    const form = el("form", { class: "inline-form" }, kind, target, go,
      el("button", { type: "button", class: "button button-quiet", onclick: () => this.toggleTransfer() }, t("Cancel")));
    form.addEventListener("submit", async (event) => {
      event.preventDefault();
      if (!target.value) return;
      go.disabled = true;
      try {
        await api("POST", chatPath(this.contactId, "/transfer"), kind.value === "queue" ? { queue: target.value } : { agent_id: Number(target.value) });
        toast(t("The chat was transferred."));
        this.transferOpen = false;
      } catch (error) {
        toast(t("Could not transfer the chat: {message}", { message: error.message }), "error");
        go.disabled = false;
      }
      this.drawTransfer();
    });
    replace(this.transferBox, form);
    kind.focus();
  }

  confirmEnd() {
    replace(this.actions,
      el("span", {}, t("End this chat for the customer?")), " ",
      el("button", { type: "button", class: "button button-danger", "data-action": "chat-end-confirm", onclick: () => this.end() }, t("End chat")), " ",
      el("button", { type: "button", class: "button button-quiet", onclick: () => this.drawActions() }, t("Cancel")));
  }

  drawActions() {
    replace(this.actions,
      el("button", { type: "button", class: "button", "data-action": "chat-transfer", onclick: () => this.toggleTransfer() }, t("Transfer")),
      el("button", { type: "button", class: "button button-danger", "data-action": "chat-end", onclick: () => this.confirmEnd() }, t("End chat")));
  }

  async end() {
    try {
      await api("POST", chatPath(this.contactId, "/end"));
      this.ended = true;
    } catch (error) {
      toast(t("Could not end the chat: {message}", { message: error.message }), "error");
    }
    this.drawActions();
    this.draw();
  }

  // ------------------------------------------------------------------ drawing
  draw() {
    const name = this.visitorName || t("Visitor");
    this.title.textContent = t("Chat with {name}", { name });
    const seen = new Set();
    const ordered = [...this.messages.values()].sort((a, b) => a.seq - b.seq);
    const nodes = [];
    for (const message of ordered) {
      const key = `seq-${message.seq}`;
      seen.add(key);
      let node = this.list.querySelector(`[data-key="${key}"]`);
      if (!node) node = this.drawMessage(message, key);
      nodes.push(node);
    }
    for (const pending of this.pending) {
      const key = `pending-${pending.client_id}`;
      nodes.push(this.drawPending(pending, key));
    }
    // Keep the DOM nodes (images already loaded); only their order is set again.
    const atBottom = this.list.scrollHeight - this.list.scrollTop - this.list.clientHeight < 40;
    this.list.replaceChildren(...nodes);
    for (const node of this.list.querySelectorAll(".from-agent[data-seq]")) {
      const receipt = node.querySelector(".receipt");
      const read = Number(node.dataset.seq) <= this.visitorReadSeq;
      receipt.textContent = read ? t("Read") : t("Delivered");
      receipt.dataset.state = read ? "read" : "delivered";
    }
    this.typingLine.hidden = !this.visitorTyping || this.ended;
    this.typingLine.textContent = this.visitorTyping ? t("{name} is typing…", { name }) : "";
    const phase = this.desk.phaseOf(this.contactId);
    this.replyForm.hidden = this.ended || phase !== "connected";
    this.actions.hidden = this.ended || phase !== "connected";
    this.badge.textContent = this.ended ? t("Ended") : this.visitorTyping ? t("Typing…") : t("Connected");
    this.badge.dataset.state = this.ended ? "ended" : "live";
    if (atBottom || nodes.length < 3) this.list.scrollTop = this.list.scrollHeight;
    this.markRead();
  }

  drawMessage(message, key) {
    if (message.notice) {
      const text = (NOTICE_TEXT[message.notice] || (() => message.notice))(message.sender_name || t("An agent"));
      return el("li", { class: `chat-item chat-notice notice-${message.notice}`, "data-key": key, "data-seq": message.seq }, text);
    }
    const from = message.from === "agent" ? "agent" : message.from === "visitor" ? "visitor" : "system";
    const attachment = message.attachment;
    return el("li", { class: `chat-item from-${from}`, "data-key": key, "data-seq": message.seq },
      el("div", { class: "chat-bubble" },
        attachment ? this.drawAttachment(attachment) : null,
        attachment && message.text === attachment.name ? null : el("p", { class: "chat-text" }, message.text)),
      el("p", { class: "chat-meta" },
        el("span", {}, message.sender_name || (from === "agent" ? t("Agent") : t("Visitor"))), " · ",
        el("time", {}, formatDate(message.at, { hour: "2-digit", minute: "2-digit" })),
        from === "agent" ? el("span", { class: "receipt" }) : null));
  }

  drawAttachment(attachment) {
    const href = chatPath(this.contactId, `/attachments/${encodeURIComponent(attachment.id)}`);
    const label = `${attachment.name} · ${formatSize(attachment.size)}`;
    if (attachment.preview) {
      return el("a", { href, target: "_blank", rel: "noopener", class: "chat-attachment chat-image", title: label },
        el("img", { src: href, alt: attachment.name, loading: "lazy" }));
    }
    return el("a", { href, download: attachment.name, class: "chat-attachment chat-file" }, "📎 ", label);
  }

  drawPending(pending, key) {
    const state = { sending: t("Sending…"), retrying: t("Not sent yet: retrying…"), failed: t("Not sent: {message}", { message: pending.error || "" }) }[pending.state];
    return el("li", { class: `chat-item from-agent pending state-${pending.state}`, "data-key": key, "data-client-id": pending.client_id },
      el("div", { class: "chat-bubble" }, el("p", { class: "chat-text" }, pending.text)),
      el("p", { class: "chat-meta" }, state,
        pending.state === "failed" && !pending.file ? [" ", el("button", { type: "button", class: "link-button", onclick: () => this.retry(pending) }, t("Retry")),
          " ", el("button", { type: "button", class: "link-button", onclick: () => this.discard(pending) }, t("Discard"))] : null));
  }
}

// Every chat of this console, by contact id.
export class ChatDesk {
  constructor({ agents, queues, me, phaseOf }) {
    this.agents = agents || [];
    this.queues = queues;
    this.me = me;
    this.phaseOf = phaseOf;
    this.chats = new Map();
    document.addEventListener("visibilitychange", () => {
      for (const chat of this.chats.values()) chat.markRead();
    });
  }

  chatFor(item) {
    let chat = this.chats.get(item.contactId);
    if (!chat) {
      chat = new ChatConversation(this, item);
      this.chats.set(item.contactId, chat);
      chat.load();
    }
    return chat;
  }

  // A hub `chat` message.
  onHub(message) {
    const chat = this.chats.get(message.contact_id);
    if (chat) chat.onHub(message);
    // A chat not drawn yet loads everything when it is (chatFor).
  }

  // After a hub snapshot (a reconnect that could not resume): fetch what was missed.
  sync(items) {
    const held = new Set(items.filter((i) => i.channel === "chat").map((i) => i.contactId));
    for (const [contactId, chat] of this.chats) {
      if (!held.has(contactId)) this.chats.delete(contactId);
      else chat.load();
    }
  }

  // The work area's content for a chat (connected or in wrap-up: the conversation stays).
  render(item) {
    const chat = this.chatFor(item);
    chat.queue = item.queue;
    chat.draw();
    return chat.element;
  }

  unread(contactId) {
    const chat = this.chats.get(contactId);
    return chat ? chat.unread : 0;
  }

  chatQueues() {
    return Object.values(this.queues).filter((q) => (q.channels || []).includes("chat")).map((q) => q.name);
  }

  colleagues() {
    return this.agents.filter((agent) => String(agent.id) !== String(this.me.id));
  }
}
