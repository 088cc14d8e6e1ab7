// The customer search page: search as the agent types or submits, page through results.

import { api, ApiError, query } from "./api.js";
import { $, el, replace } from "./dom.js";
import { formatMoney, formatRelative, t } from "./i18n.js";
import { pageData } from "./page.js";
import { customerBadges } from "./customer_card.js";
import { identityKindLabel } from "./labels.js";

const form = $("#search-form");
const fieldSelect = $("#search-field");
const input = $("#search-text");
const results = $("#results");
const more = $("#results-more");
const count = $("#results-count");
const PAGE = 25;
let shown = [];
let lastCursor = null;
let current = null;

function identitiesText(customer) {
  return (customer.identities || [])
    .slice(0, 3)
    .map((identity) => el("div", { class: "small" }, el("span", { class: "identity-kind" }, identityKindLabel(identity.kind)), identity.value));
}

function row(customer) {
  const value = customer.value || {};
  return el(
    "tr",
    { "data-customer-id": customer.id },
    el("td", {}, el("a", { class: "row-link", href: `/customers/${customer.id}` }, customer.display_name || t("Unknown customer")),
      el("div", { class: "muted small" }, `#${customer.id}`)),
    el("td", {}, el("div", { class: "card-badges" }, customerBadges(customer))),
    el("td", {}, identitiesText(customer)),
    el("td", { class: "number" }, formatMoney(value.spend_window)),
    el("td", {}, value.last_contact_at ? formatRelative(value.last_contact_at) : el("span", { class: "muted" }, "—")),
  );
}

function draw() {
  if (!shown.length) {
    replace(results, el("p", { class: "empty" }, t("No customer matches.")));
  } else {
    replace(
      results,
      el(
        "table",
        { class: "table" },
        el("thead", {}, el("tr", {},
          el("th", { scope: "col" }, t("Customer")),
          el("th", { scope: "col" }, t("Tier and flags")),
          el("th", { scope: "col" }, t("Phones, emails and accounts")),
          el("th", { scope: "col", class: "number" }, t("Spend, 12 months")),
          el("th", { scope: "col" }, t("Last contact")),
        )),
        el("tbody", {}, shown.map(row)),
      ),
    );
  }
  count.textContent = shown.length ? t("{count} shown", { count: shown.length }) : "";
  replace(more, lastCursor ? el("button", { type: "button", class: "button", onclick: () => search(current, lastCursor) }, t("Show more")) : null);
}

async function search(criteria, cursor) {
  current = criteria;
  try {
    const page = await api("GET", `/api/v1/customers${query({ [criteria.field]: criteria.q, limit: PAGE, cursor })}`);
    shown = cursor ? [...shown, ...page.items] : page.items;
    lastCursor = page.next_cursor;
    draw();
  } catch (error) {
    const message = error instanceof ApiError && error.error === "search-rate-limited"
      ? t("Too many searches. Wait a moment and try again.")
      : t("Search failed: {message}", { message: error.message });
    replace(results, el("p", { class: "alert", role: "alert" }, message));
    replace(more);
  }
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  const criteria = { field: fieldSelect.value, q: input.value.trim() };
  if (!criteria.q) return;
  const url = new URL(location.href);
  url.search = query(criteria);
  history.replaceState(null, "", url);
  search(criteria, null);
});

const initial = pageData().search || {};
if (initial.q) search({ field: initial.field || "q", q: initial.q }, null);
