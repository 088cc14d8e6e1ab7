// Canned responses in a chat's reply box: type "/" (at the start or after a space) and
// a few letters, or press Ctrl+K, to search the queue's canned responses by shortcut,
// title or text; arrows choose, Enter or Tab inserts the response (filled in for this
// chat: the customer's and the agent's names, docs/chat.md), Escape closes.
//
// The queue's list is fetched once per chat (GET /api/v1/canned-responses?queue=&contact_id=)
// and searched here, so typing costs no request.

import { api } from "./api.js";
import { el, replace } from "./dom.js";
import { t } from "./i18n.js";

const MAX_SHOWN = 8;

export class CannedMenu {
  constructor(input, { queue, contactId, onPick }) {
    this.input = input;
    this.queue = queue;
    this.contactId = contactId;
    this.onPick = onPick || (() => {});
    this.items = null;
    this.loading = null;
    this.shown = [];
    this.active = 0;
    this.start = -1; // where the "/query" token starts in the input, -1: opened by Ctrl+K
    this.query = "";
    this.element = el("div", { class: "canned-menu", role: "listbox", hidden: true, "aria-label": t("Canned responses") });
  }

  get isOpen() {
    return !this.element.hidden;
  }

  async fetch() {
    if (this.items) return this.items;
    if (!this.loading) {
      const params = new URLSearchParams({ queue: this.queue, contact_id: this.contactId });
      this.loading = api("GET", `/api/v1/canned-responses?${params}`)
        .then((answer) => {
          this.items = (answer && answer.items) || [];
          return this.items;
        })
        .catch(() => {
          this.loading = null;
          return [];
        });
    }
    return this.loading;
  }

  // Opened by the button or Ctrl+K: the search is what is typed next, as "/" would be.
  open(query) {
    const caret = this.input.selectionStart ?? this.input.value.length;
    const before = this.input.value.slice(0, caret);
    const spacer = before && !/\s$/.test(before) ? " " : "";
    this.input.setRangeText(`${spacer}/${query}`, caret, this.input.selectionEnd ?? caret, "end");
    this.input.focus();
    this.update();
  }

  close() {
    this.element.hidden = true;
    this.start = -1;
  }

  // After every input: is the caret in a "/word" token?
  update() {
    const caret = this.input.selectionStart ?? 0;
    const before = this.input.value.slice(0, caret);
    const match = /(^|\s)\/([^\s/]{0,40})$/.exec(before);
    if (!match) {
      this.close();
      return;
    }
    this.start = caret - match[2].length - 1;
    this.query = match[2].toLowerCase();
    this.fetch().then(() => this.draw());
  }

  matches() {
    const query = this.query;
    const items = this.items || [];
    if (!query) return items.slice(0, MAX_SHOWN);
    const byShortcut = items.filter((item) => item.shortcut.toLowerCase().startsWith(query));
    const byText = items.filter((item) => !byShortcut.includes(item)
      && (item.title.toLowerCase().includes(query) || item.text.toLowerCase().includes(query)));
    return [...byShortcut, ...byText].slice(0, MAX_SHOWN);
  }

  draw() {
    if (this.start < 0) return;
    this.shown = this.matches();
    this.active = Math.min(this.active, Math.max(0, this.shown.length - 1));
    this.element.hidden = false;
    if (!this.shown.length) {
      replace(this.element, el("p", { class: "canned-empty muted small" },
        this.items && this.items.length ? t("No canned response matches “{query}”.", { query: this.query }) : t("This queue has no canned responses.")));
      return;
    }
    replace(this.element, this.shown.map((item, index) => el("div", {
      role: "option", class: "canned-option", "aria-selected": String(index === this.active), "data-shortcut": item.shortcut,
      onmousedown: (event) => {
        event.preventDefault(); // keep the focus in the reply box
        this.pick(index);
      },
    }, el("span", { class: "canned-shortcut" }, `/${item.shortcut}`), " ",
    el("strong", {}, item.title), el("span", { class: "canned-text muted small" }, item.rendered || item.text))));
  }

  pick(index) {
    const item = this.shown[index];
    if (!item || this.start < 0) return;
    const caret = this.input.selectionStart ?? this.input.value.length;
    this.input.setRangeText(item.rendered || item.text, this.start, caret, "end");
    this.close();
    this.input.focus();
    this.onPick(item);
  }

  // Keys in the reply box; true when the menu used the key.
  handleKey(event) {
    if ((event.ctrlKey || event.metaKey) && !event.altKey && event.key.toLowerCase() === "k") {
      event.preventDefault();
      if (this.isOpen) this.close();
      else this.open("");
      return true;
    }
    if (!this.isOpen) return false;
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      const step = event.key === "ArrowDown" ? 1 : -1;
      this.active = (this.active + step + this.shown.length) % Math.max(1, this.shown.length);
      this.draw();
      return true;
    }
    if ((event.key === "Enter" || event.key === "Tab") && this.shown.length && !event.isComposing) {
      event.preventDefault();
      this.pick(this.active);
      return true;
    }
    if (event.key === "Escape") {
      event.preventDefault();
      this.close();
      return true;
    }
    return false;
  }
}
