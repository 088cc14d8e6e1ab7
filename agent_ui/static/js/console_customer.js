// The customer area of the console: the card and timeline of the customer of the
// contact in front of the agent (the screen-pop that came with the offer), their phone
// numbers to call back, and, for a caller nobody knows yet, "link to an existing
// customer" (the agent's link of the contact's provisional profile, undoable) or
// "create" (confirm it as a new customer).

import { api, query } from "./api.js";
import { el, replace, toast } from "./dom.js";
import { formatDate, t } from "./i18n.js";
import { renderCustomerCard } from "./customer_card.js";
import { mountTimeline } from "./timeline.js";

export class CustomerArea {
  constructor(root, { me, people, onDial, onLinked }) {
    this.root = root;
    this.me = me;
    this.people = people;
    this.onDial = onDial;
    this.onLinked = onLinked;
    this.shown = null; // {customerId, contactId}
    this.timeline = null;
    this.drawEmpty();
  }

  drawEmpty() {
    this.shown = null;
    this.timeline = null;
    replace(
      this.root,
      el("div", { class: "panel customer-empty" },
        el("h2", {}, t("No customer on screen")),
        el("p", { class: "muted" }, t("When a contact is offered to you, the customer's card and history appear here before you answer.")),
        el("p", {}, el("a", { href: "/customers" }, t("Look up a customer")))),
    );
  }

  // Show `item`'s customer; redraws only when the customer changed (the timeline's
  // paging and filter stay while the same customer is on screen).
  show(item) {
    if (!item) {
      // The contact ended: its customer stays on screen (the wrap-up just saved shows
      // on the timeline) until the next contact comes.
      if (!this.shown) this.drawEmpty();
      else this.root.dataset.last = "true";
      return;
    }
    delete this.root.dataset.last;
    if (!item.customerId) {
      if (item.screenPopError) this.drawUnknown(item);
      else this.drawEmpty();
      return;
    }
    const key = `${item.customerId}|${item.contactId}|${item.screenPop ? "pop" : "nopop"}`;
    if (this.shown && this.shown.key === key) return;
    this.shown = { key, customerId: item.customerId, contactId: item.contactId };
    if (item.screenPop) this.draw(item, item.screenPop);
    else this.load(item);
  }

  async load(item) {
    replace(this.root, el("div", { class: "panel" }, el("p", { class: "loading" }, t("Loading…"))));
    try {
      const profile = await api("GET", `/api/v1/customers/${item.customerId}`);
      if (!this.shown || this.shown.customerId !== item.customerId) return;
      this.draw(item, { customer: profile, open_interactions: [], interactions: [], history_cursor: null }, true);
    } catch (error) {
      replace(this.root, el("div", { class: "panel" }, el("p", { class: "alert", role: "alert" },
        t("Could not load the customer: {message}", { message: error.message }))));
    }
  }

  draw(item, screenPop, fetchHistory = false) {
    const customer = screenPop.customer || {};
    const phones = (customer.identities || []).filter((identity) => identity.kind === "phone");
    const notes = screenPop.notes || [];
    const timelineSlot = el("div", { class: "timeline-slot" });
    replace(
      this.root,
      customer.provisional ? this.linkPanel(item, customer) : null,
      renderCustomerCard(screenPop, { people: this.people, currentUserId: this.me.id }),
      phones.length
        ? el("div", { class: "panel phone-list" },
            el("h3", {}, t("Call back")),
            el("ul", {}, phones.map((phone) => el("li", {},
              el("span", { class: "mono" }, phone.value),
              el("button", { type: "button", class: "button button-small", "data-action": "call-number", "data-number": phone.value,
                onclick: () => this.onDial(phone.value, item.customerId) }, "☎ ", t("Call")))))) : null,
      notes.length
        ? el("section", { class: "panel customer-notes", "aria-labelledby": "customer-notes-title" },
            el("h3", { id: "customer-notes-title" }, t("Notes about the customer")),
            el("ul", {}, notes.slice(0, 5).map((note) => el("li", { "data-note-id": note.id },
              el("span", { class: "note-meta" }, t("{author}, {when}", { author: note.author || "", when: formatDate(note.created_at) })),
              note.body))))
        : null,
      el("section", { class: "panel timeline-panel", "aria-labelledby": "timeline-title" },
        el("div", { class: "panel-header" },
          el("h2", { id: "timeline-title" }, t("History")),
          el("a", { href: `/customers/${item.customerId}`, class: "small", target: "_blank", rel: "noopener" }, t("Open profile"))),
        timelineSlot),
    );
    this.timeline = mountTimeline(timelineSlot, {
      customerId: item.customerId,
      screenPop: fetchHistory ? null : screenPop,
      people: this.people,
    });
  }

  // The customer's timeline changed elsewhere (a wrap-up saved on any console).
  refreshIf(customerId) {
    if (this.timeline && this.shown && String(this.shown.customerId) === String(customerId)) {
      this.timeline.refresh();
    }
  }

  drawUnknown(item) {
    this.shown = null;
    this.timeline = null;
    replace(this.root, el("div", { class: "panel customer-empty" },
      el("h2", {}, t("Unknown caller")),
      el("p", { class: "muted" }, t("There is no customer profile for this contact."))));
  }

  // "Link to an existing customer" and "create", for a provisional profile.
  linkPanel(item, customer) {
    const results = el("ul", { class: "link-results", "aria-live": "polite" });
    const search = el("input", { type: "search", id: "link-search", placeholder: t("Name, phone, email or account number"),
      "aria-label": t("Find the existing customer"), maxlength: "200" });
    const searchForm = el("form", { class: "form-row" }, search,
      el("button", { type: "submit", class: "button" }, t("Search")));
    searchForm.addEventListener("submit", async (event) => {
      event.preventDefault();
      const text = search.value.trim();
      if (!text) return;
      replace(results, el("li", { class: "loading" }, t("Searching…")));
      try {
        const page = await api("GET", `/api/v1/customers${query({ q: text, limit: 8 })}`);
        const found = page.items.filter((c) => c.id !== customer.id && !c.merged_into_id);
        replace(results, found.length
          ? found.map((c) => el("li", {},
              el("span", {}, el("strong", {}, c.display_name || t("Unknown customer")), " ",
                el("span", { class: "muted small" }, (c.identities || []).slice(0, 2).map((i) => i.value).join(" · "))),
              el("button", { type: "button", class: "button button-small", "data-action": "link", onclick: () => this.link(item, customer, c) }, t("Link"))))
          : el("li", { class: "muted" }, t("No customer found.")));
      } catch (error) {
        replace(results, el("li", { class: "alert" }, error.message));
      }
    });
    const name = el("input", { type: "text", id: "create-name", maxlength: "200", placeholder: t("Customer's name"), "aria-label": t("Customer's name") });
    const createForm = el("form", { class: "form-row" }, name,
      el("button", { type: "submit", class: "button button-primary", "data-action": "create" }, t("Create customer")));
    createForm.addEventListener("submit", async (event) => {
      event.preventDefault();
      const displayName = name.value.trim();
      if (!displayName) {
        name.focus();
        return;
      }
      try {
        await api("PATCH", `/api/v1/customers/${customer.id}`, { display_name: displayName, provisional: false });
        toast(t("Customer created."));
        this.shown = null;
        this.onLinked(item, customer.id);
      } catch (error) {
        toast(t("Could not create the customer: {message}", { message: error.message }), "error");
      }
    });
    return el("section", { class: "panel link-panel", "aria-labelledby": "link-title" },
      el("h2", { id: "link-title" }, t("New caller")),
      el("p", { class: "muted small" }, t("Nobody knows this caller yet. If they are an existing customer, link them; otherwise create the customer.")),
      el("h3", {}, t("Link to an existing customer")), searchForm, results,
      el("h3", {}, t("Or create a new customer")), createForm);
  }

  // The agent's own right: merge the provisional profile of the contact they hold into
  // the customer found (POST /api/v1/contacts/{id}/link); Undo calls DELETE on it.
  async link(item, provisional, survivor) {
    const path = `/api/v1/contacts/${encodeURIComponent(item.contactId)}/link`;
    try {
      await api("POST", path, { customer_id: survivor.id });
      this.shown = null;
      this.onLinked(item, survivor.id);
      const undo = el("button", { type: "button", class: "button button-small", "data-action": "undo-link", onclick: async () => {
        try {
          await api("DELETE", path);
          toast(t("Link undone."));
          this.shown = null;
          this.onLinked(item, provisional.id);
        } catch (error) {
          toast(t("Could not undo the link: {message}", { message: error.message }), "error");
        }
      } }, t("Undo"));
      toast([t("Linked to {name}.", { name: survivor.display_name || "" }), " ", undo]);
    } catch (error) {
      toast(t("Could not link: {message}", { message: error.message }), "error");
    }
  }
}
