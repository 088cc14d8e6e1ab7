// The customer card: who the customer is and what they are worth, at a glance.
//
// renderCustomerCard(screenPop, options) takes the JSON of GET /api/v1/screen-pop (the
// profile page builds the same shape) and returns an element. Options:
//   people: {user id: display name} for the owner agent
//   currentUserId: to say "you" when the caller owns the account
// Every string from the data is set as text (dom.js), never parsed as HTML.

import { el } from "./dom.js";
import { formatDate, formatMoney, formatNumber, formatRelative, t } from "./i18n.js";
import { CONSENT_KEYS, consentLabel, identityKindLabel, personName, stageLabel, tierLabel } from "./labels.js";

const KNOWN_TIERS = new Set(["platinum", "gold", "silver", "standard"]);

export function tierBadge(tier, previousTier) {
  const known = KNOWN_TIERS.has(tier);
  return el(
    "span",
    { class: `badge ${known ? `badge-tier-${tier}` : ""}`, title: previousTier ? t("Previous tier: {tier}", { tier: tierLabel(previousTier) }) : null },
    tierLabel(tier),
  );
}

export function customerBadges(customer) {
  const value = customer.value || {};
  const badges = [tierBadge(value.tier || customer.tier, value.previous_tier)];
  if (customer.lifecycle_stage) badges.push(el("span", { class: "badge" }, stageLabel(customer.lifecycle_stage)));
  if (value.repeat_contact) {
    badges.push(el("span", { class: "badge badge-alert", "data-flag": "repeat-contact" }, t("Repeat contact")));
  }
  if (value.churn_risk) {
    badges.push(
      el(
        "span",
        { class: "badge badge-warning", "data-flag": "churn-risk" },
        value.previous_tier ? t("Churn risk (was {tier})", { tier: tierLabel(value.previous_tier) }) : t("Churn risk"),
      ),
    );
  }
  if (customer.provisional) badges.push(el("span", { class: "badge" }, t("Unconfirmed")));
  if (customer.merged_into_id) {
    badges.push(el("span", { class: "badge badge-warning" }, t("Merged into #{id}", { id: customer.merged_into_id })));
  }
  return badges;
}

function fact(label, ...value) {
  return [el("dt", {}, label), el("dd", {}, ...value)];
}

function consentList(consent) {
  const given = consent || {};
  return el(
    "span",
    { class: "consent-list" },
    CONSENT_KEYS.filter((key) => key in given).map((key) =>
      el(
        "span",
        { class: `badge ${given[key] ? "badge-success" : ""}`, "data-consent": key, "data-given": String(Boolean(given[key])) },
        `${given[key] ? "✓" : "✗"} ${consentLabel(key)}`,
      ),
    ),
    Object.keys(given).length ? null : el("span", { class: "muted" }, t("Not recorded")),
  );
}

export function renderCustomerCard(screenPop, options = {}) {
  const customer = screenPop.customer || screenPop;
  const value = customer.value || {};
  const tier = value.tier || customer.tier;
  const owner =
    customer.owner_agent_id === null || customer.owner_agent_id === undefined
      ? el("span", { class: "muted" }, t("None"))
      : customer.owner_agent_id === options.currentUserId
        ? t("You")
        : personName(options.people, customer.owner_agent_id);
  const tags = (customer.tags || []).length
    ? (customer.tags || []).map((tag) => [el("span", { class: "tag" }, tag), " "])
    : el("span", { class: "muted" }, t("None"));
  const matched = screenPop.matched_identity;

  return el(
    "article",
    { class: `panel customer-card ${KNOWN_TIERS.has(tier) ? `tier-stripe-${tier}` : ""}`, "aria-label": t("Customer card") },
    el(
      "div",
      { class: "card-head" },
      el("h2", { class: "card-name", "data-field": "display_name" }, customer.display_name || t("Unknown customer")),
      el("div", { class: "card-badges" }, customerBadges(customer)),
      matched
        ? el("p", { class: "muted small" }, t("Matched by {kind}: {value}", { kind: identityKindLabel(matched.kind), value: matched.value }))
        : null,
    ),
    el(
      "dl",
      { class: "card-figures" },
      el("div", { class: "card-figure" }, el("dt", {}, t("Spend, 12 months")), el("dd", {}, formatMoney(value.spend_window))),
      el("div", { class: "card-figure" }, el("dt", {}, t("Orders, 12 months")), el("dd", {}, formatNumber(value.orders_window))),
      el("div", { class: "card-figure" }, el("dt", {}, t("Lifetime spend")), el("dd", {}, formatMoney(value.lifetime_spend))),
    ),
    el(
      "dl",
      { class: "card-facts" },
      fact(t("Owner"), owner),
      fact(t("Tags"), tags),
      fact(t("Consent"), consentList(customer.consent)),
      value.last_contact_at ? fact(t("Last contact"), el("span", { title: formatDate(value.last_contact_at) }, formatRelative(value.last_contact_at))) : null,
      value.last_order_at ? fact(t("Last order"), el("span", { title: formatDate(value.last_order_at) }, formatRelative(value.last_order_at))) : null,
      value.contacts_30d !== undefined ? fact(t("Contacts, 30 days"), formatNumber(value.contacts_30d)) : null,
      customer.open_items ? fact(t("Open items"), formatNumber(customer.open_items)) : null,
      customer.language ? fact(t("Language"), customer.language) : null,
      customer.created_at ? fact(t("Customer since"), formatDate(customer.created_at, { dateStyle: "medium" })) : null,
    ),
  );
}
