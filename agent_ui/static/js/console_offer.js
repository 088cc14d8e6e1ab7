// An offered contact in the work area: what it is, why it came to this agent, the
// countdown to the offer's deadline, and accept / decline (a call is answered on the
// phone; it may be declined here, which hangs up its ringing leg: a missed offer).

import { el } from "./dom.js";
import { formatDuration, t } from "./i18n.js";
import { channelLabel } from "./labels.js";

export const CHANNEL_ICONS = { voice: "☎", chat: "✎", email: "@" };

export function offerTitle(item) {
  if (item.transferFrom) return t("Transferred to you");
  return { voice: t("Incoming call"), chat: t("New chat"), email: t("New email") }[item.channel] || t("New contact");
}

const STRATEGY_RULES = {
  "longest-idle": () => t("you had waited longest since your last contact"),
  "least-occupied": () => t("you were the least busy"),
  "highest-proficiency": () => t("your skills matched it best"),
  "round-robin": () => t("it was your turn"),
  "fewest-today": () => t("you had taken the fewest contacts today"),
};

// The router's rule for this offer (the offer's `explanation`), in words.
function routerRule(explanation) {
  if (!explanation) return null;
  switch (explanation.decided_by) {
    case "sticky":
      return explanation.preferred === "owner"
        ? t("You are this customer's account manager: kept for you")
        : t("You served this customer last time: kept for you");
    case "strategy": {
      const rule = (STRATEGY_RULES[explanation.strategy] || (() => explanation.strategy))();
      return explanation.candidates > 1
        ? t("Best of {count} free agents: {rule}", { count: explanation.candidates, rule })
        : t("You were the only free agent for it");
    }
    case "agent-available":
      return explanation.candidates > 1
        ? t("You became free: the most urgent contact of your {count} queues", { count: explanation.candidates })
        : t("You became free: it was waiting for you");
    case "direct":
      return t("Sent to you by a colleague or a supervisor");
    case "channel":
      return t("Your phone was already ringing for it");
    default:
      return null;
  }
}

// Why this contact came to this agent: the router's explanation with the offer, and
// what the screen-pop adds.
export function offerReasons(item, me) {
  const reasons = [];
  const offer = item.offer || {};
  const explanation = offer.explanation || null;
  reasons.push(t("Queue {queue}", { queue: item.queue }));
  if (offer.waited_seconds !== null && offer.waited_seconds !== undefined) {
    reasons.push(t("Waited {duration}", { duration: formatDuration(Math.max(1, offer.waited_seconds)) }));
  }
  const rule = routerRule(explanation);
  if (rule) reasons.push(rule);
  if (explanation && explanation.ring > 0) reasons.push(t("Overflow: the queue widened the skills it needs"));
  const pop = item.screenPop;
  const customer = pop && pop.customer;
  const sticky = explanation && explanation.decided_by === "sticky";
  if (!sticky && customer && me && customer.owner_agent_id === me.id) reasons.push(t("You are this customer's account manager"));
  const tier = (explanation && explanation.tier) || (customer && customer.value && customer.value.tier);
  if (tier && tier !== "standard") {
    reasons.push(explanation && explanation.priority
      ? t("Priority {priority} for the customer's tier", { priority: explanation.priority })
      : t("Priority for the customer's tier"));
  }
  if (item.transferFrom) reasons.push(t("Transferred from queue {queue}", { queue: item.transferFrom }));
  return reasons;
}

// The seconds left until `deadline` (server time) and the share of the ring time left.
export function countdown(item, serverNow) {
  const offer = item.offer || {};
  if (!offer.offer_deadline) return null;
  const total = offer.offered_at ? Math.max(1, offer.offer_deadline - offer.offered_at) : 30;
  // Clocks a little apart must not show more time than the offer ever had.
  const left = Math.min(total, Math.max(0, offer.offer_deadline - serverNow));
  return { left, share: Math.min(1, left / total) };
}

export function renderOffer(item, { me, serverNow, onAccept, onDecline, pending }) {
  const voice = item.channel === "voice";
  const remaining = countdown(item, serverNow);
  const caller = item.call && item.call.caller_number;
  const declineButton = el("button", { type: "button", class: "button button-decline", "data-action": "decline", disabled: pending, onclick: onDecline },
    t("Decline"), el("kbd", {}, "D"));
  const actions = voice
    ? el(
        "div",
        { class: "offer-actions offer-actions-voice" },
        el("div", { class: "offer-phone", role: "note" },
          el("span", { class: "ring-icon", "aria-hidden": "true" }, "☎"),
          el("div", {},
            el("strong", {}, t("Pick up your phone to answer")),
            el("p", { class: "muted small" }, t("Declining sends the call to the next agent, and you go not ready.")))),
        declineButton,
      )
    : el(
        "div",
        { class: "offer-actions" },
        el("button", { type: "button", class: "button button-accept", "data-action": "accept", disabled: pending, onclick: onAccept },
          t("Accept"), el("kbd", {}, "A")),
        declineButton,
      );
  return el(
    "section",
    { class: `work-card offer-card channel-${item.channel}`, "data-contact-id": item.contactId, "aria-labelledby": "offer-title" },
    el(
      "header",
      { class: "work-head" },
      el("span", { class: "channel-icon", "aria-hidden": "true" }, CHANNEL_ICONS[item.channel] || "•"),
      el("div", { class: "work-title" },
        el("h2", { id: "offer-title" }, offerTitle(item)),
        el("p", { class: "muted small" }, channelLabel(item.channel, "inbound"), caller ? ` · ${caller}` : "")),
      el("span", { class: "badge badge-ringing" }, t("Ringing")),
    ),
    remaining
      ? el(
          "div",
          { class: "countdown", "data-left": String(Math.ceil(remaining.left)) },
          el("div", { class: `countdown-bar ${remaining.left < 8 ? "is-urgent" : ""}`, role: "progressbar",
            "aria-label": t("Time left to answer"), "aria-valuemin": "0", "aria-valuemax": "100",
            "aria-valuenow": String(Math.round(remaining.share * 100)) }, el("span", { class: "countdown-fill", dataset: { share: String(remaining.share) } })),
          el("span", { class: "countdown-text", id: "offer-countdown" }, t("{seconds} s left", { seconds: Math.ceil(remaining.left) })),
        )
      : null,
    el(
      "div",
      { class: "why" },
      el("h3", {}, t("Why you")),
      el("ul", { class: "why-list" }, offerReasons(item, me).map((reason) => el("li", {}, reason))),
    ),
    item.screenPopError ? el("p", { class: "notice small" }, screenPopProblem(item.screenPopError)) : null,
    actions,
  );
}

export function screenPopProblem(error) {
  return (
    {
      "no-customer": t("The caller is not known: no customer profile yet."),
      "customer-not-found": t("The customer's profile was not found."),
      unavailable: t("The customer's profile could not be loaded in time."),
    }[error] || t("No customer profile.")
  );
}
