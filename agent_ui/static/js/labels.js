// Words for the API's codes (channels, tiers, stages, roles...), translated.
// Codes the UI does not know (a tier named in the configuration) show as they are.

import { t } from "./i18n.js";

export function channelLabel(channel, direction) {
  if (channel === "voice") return direction === "outbound" ? t("Outbound call") : t("Inbound call");
  if (channel === "chat") return t("Chat");
  if (channel === "email") return direction === "outbound" ? t("Outbound email") : t("Email");
  return channel || "";
}

export function channelName(channel) {
  return { voice: t("Calls"), chat: t("Chats"), email: t("Emails") }[channel] || channel;
}

export function tierLabel(tier) {
  return (
    { platinum: t("Platinum"), gold: t("Gold"), silver: t("Silver"), standard: t("Standard") }[tier] ||
    tier || ""
  );
}

export function stageLabel(stage) {
  return (
    {
      prospect: t("Prospect"),
      customer: t("Customer"),
      repeat: t("Repeat customer"),
      advocate: t("Advocate"),
      partner: t("Partner"),
    }[stage] || stage || ""
  );
}

export const STAGES = ["prospect", "customer", "repeat", "advocate", "partner"];

export function consentLabel(key) {
  return (
    {
      voice: t("Calls"),
      chat: t("Chat"),
      email: t("Email"),
      marketing: t("Marketing"),
      recording: t("Recording"),
    }[key] || key
  );
}

export const CONSENT_KEYS = ["voice", "chat", "email", "marketing", "recording"];

export function identityKindLabel(kind) {
  return { phone: t("Phone"), email: t("Email"), chat: t("Chat id"), account: t("Account") }[kind] || kind;
}

export function statusLabel(status) {
  return { open: t("Open"), closed: t("Closed") }[status] || status || "";
}

export function personName(people, id) {
  if (id === null || id === undefined) return "";
  const name = people && people[String(id)];
  return name || t("User #{id}", { id });
}

export function auditActionLabel(action) {
  return (
    {
      "profile.viewed": t("Viewed the profile"),
      "customer.created": t("Created the customer"),
      "customer.updated": t("Changed the customer"),
      "customer.merged": t("Merged"),
      "customer.unmerged": t("Undid a merge"),
      "customer.exported": t("Exported the data"),
      "customer.erased": t("Erased the data"),
      "identity.added": t("Added an identity"),
      "identity.removed": t("Removed an identity"),
      "note.added": t("Added a note"),
      "interaction.updated": t("Updated an interaction"),
      "orders.imported": t("Imported orders"),
    }[action] || action
  );
}
