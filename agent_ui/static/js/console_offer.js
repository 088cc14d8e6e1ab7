// An offered contact in the work area: what it is, why it came to this agent, the
// countdown to the offer's deadline, and accept / decline (chats and emails; a call is
// answered or rejected on the phone, as the router's voice rule says).

import { el } from "./dom.js";
import { formatDuration, t } from "./i18n.js";
import { channelLabel } from "./labels.js";

export const CHANNEL_ICONS = { voice: "☎", chat: "✎", email: "@" };

export function offerTitle(item) {
  if (item.transferFrom) return t("Transferred to you");
  return { voice: t("Incoming call"), chat: t("New chat"), email: t("New email") }[item.channel] || t("New contact");
}

// Why this contact came to this agent, from what the offer and the screen-pop say.
export function offerReasons(item, me) {
  const reasons = [];
  const offer = item.offer || {};
  reasons.push(t("Queue {queue}", { queue: item.queue }));
  if (offer.waited_seconds !== null && offer.waited_seconds !== undefined) {
    reasons.push(t("Waited {duration}", { duration: formatDuration(Math.max(1, offer.waited_seconds)) }));
  }
  const decided = {
    sticky: t("You are this customer's preferred agent (sticky routing)"),
    "agent-available": t("You were the best eligible agent free for it"),
    "contact-arrived": t("You were the best eligible agent free for it"),
    channel: t("Your phone was already ringing for it"),
    transfer: t("Transferred to you by a colleague"),
  }[offer.decided_by];
  if (decided) reasons.push(decided);
  const pop = item.screenPop;
  const customer = pop && pop.customer;
  if (customer && me && customer.owner_agent_id === me.id) reasons.push(t("You are this customer's account manager"));
  const last = pop && [...(pop.open_interactions || []), ...(pop.interactions || [])].find((i) => i.agent_id !== null && i.agent_id !== undefined);
  if (last && me && last.agent_id === me.id && !(customer && customer.owner_agent_id === me.id)) {
    reasons.push(t("You served this customer last time"));
  }
  if (customer && customer.value && customer.value.tier && customer.value.tier !== "standard") {
    reasons.push(t("Priority for the customer's tier"));
  }
  if (item.transferFrom) reasons.push(t("Transferred from queue {queue}", { queue: item.transferFrom }));
  if (offer.explanation) reasons.push(String(offer.explanation));
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
  const actions = voice
    ? el(
        "div",
        { class: "offer-phone", role: "note" },
        el("span", { class: "ring-icon", "aria-hidden": "true" }, "☎"),
        el("div", {},
          el("strong", {}, t("Pick up your phone to answer")),
          el("p", { class: "muted small" }, t("Letting it ring out or rejecting it on the phone declines the call."))),
      )
    : el(
        "div",
        { class: "offer-actions" },
        el("button", { type: "button", class: "button button-accept", "data-action": "accept", disabled: pending, onclick: onAccept },
          t("Accept"), el("kbd", {}, "A")),
        el("button", { type: "button", class: "button button-decline", "data-action": "decline", disabled: pending, onclick: onDecline },
          t("Decline"), el("kbd", {}, "D")),
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
