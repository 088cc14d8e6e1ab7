// The agent console (/console): the entry module. It holds what the agent has in
// hand (offers ringing, contacts connected or in wrap-up), fed by the live hub, and
// draws the work area from it; the state bar, alerts, customer area, call controls and
// wrap-up form are their own modules (console_*.js).
//
// Everything shown comes from the server: the hub's snapshot on (re)connect, then its
// numbered messages. Buttons ask the REST API and show its refusal if any; the change
// itself appears when the hub reports it, so two tabs of one agent never disagree.

import { api } from "./api.js";
import { $, el, replace, toast } from "./dom.js";
import { t } from "./i18n.js";
import { channelLabel } from "./labels.js";
import { pageData } from "./page.js";
import { OfferAlert } from "./console_alert.js";
import { callAction, mountDialPad, renderCallControls } from "./console_call.js";
import { ChatDesk } from "./console_chat.js";
import { CustomerArea } from "./console_customer.js";
import { HubClient } from "./console_hub.js";
import { installShortcuts } from "./console_keys.js";
import { CHANNEL_ICONS, countdown, offerTitle, renderOffer } from "./console_offer.js";
import { StateBar, clock, reasonLabel } from "./console_state.js";
import { renderWrapUp } from "./console_wrapup.js";

const data = pageData();
const me = data.user;
const myAgentId = String(me.id);
// Server clock minus the browser's (offer deadlines and event times are server time).
const serverOffset = typeof data.server_time === "number" ? data.server_time - Date.now() / 1000 : 0;
const serverNow = () => Date.now() / 1000 + serverOffset;
const people = Object.fromEntries((data.agents || []).map((agent) => [String(agent.id), agent.name]));
const queues = { ...(data.queues || {}) };

// contact id -> what the agent has of it:
//   {contactId, channel, queue, customerId, phase: "offered" | "connected" | "wrap_up",
//    offer, screenPop, screenPopError, call, connectedAt, wrapDeadline, wrapDraft,
//    wrapError, outbound, transferFrom}
const items = new Map();
let selectedId = null;
let pending = false;
let transferOpen = false;
const customerTopics = new Set();

const stateRoot = $("#state-bar");
const stateBar = data.is_agent ? new StateBar(stateRoot, { reasons: data.not_ready_reasons || [], serverOffset }) : null;
const alert = new OfferAlert();
const customerArea = new CustomerArea($("#customer-area"), { me, people, onDial: dial, onLinked: relink });
// The chats' conversations (console_chat.js): one pane per chat, kept across renders.
const chats = new ChatDesk({ agents: data.agents, queues, me, phaseOf: (id) => items.get(id)?.phase });
const workPanel = $("#work-panel");
const workList = $("#work-list");
const hubStatus = $("#hub-status");
const connectionNotice = $("#connection-notice");

// ------------------------------------------------------------------------ items
function newItem(fields) {
  return {
    contactId: fields.contactId,
    channel: fields.channel || "voice",
    queue: fields.queue || "",
    customerId: fields.customerId ?? null,
    phase: fields.phase || "offered",
    offer: null,
    screenPop: null,
    screenPopError: null,
    call: null,
    connectedAt: null,
    wrapDeadline: null,
    wrapDraft: { disposition: "", notes: "" },
    wrapError: null,
    outbound: false,
    transferFrom: null,
    arrived: Date.now(),
  };
}

function itemFor(contactId, fields) {
  let item = items.get(contactId);
  if (!item) {
    item = newItem({ contactId, ...fields });
    items.set(contactId, item);
  }
  return item;
}

function upsertOffer(offer, { live }) {
  const known = items.get(offer.contact_id);
  const item = itemFor(offer.contact_id, { channel: offer.channel, queue: offer.queue, customerId: offer.customer_id });
  item.phase = "offered";
  item.queue = offer.queue;
  item.channel = offer.channel;
  item.customerId = offer.customer_id;
  item.offer = offer;
  item.screenPop = offer.screen_pop;
  item.screenPopError = offer.screen_pop_error || null;
  if (!selectedId || !items.has(selectedId) || items.get(selectedId).phase === "offered") selectedId = item.contactId;
  if (live && !known) {
    const name = (offer.screen_pop && offer.screen_pop.customer && offer.screen_pop.customer.display_name) || t("Unknown customer");
    alert.notify(item.contactId, offerTitle(item), t("{name} · queue {queue}", { name, queue: offer.queue }));
  }
}

function removeItem(contactId) {
  items.delete(contactId);
  alert.dismiss(contactId);
  if (selectedId === contactId) {
    selectedId = null;
    transferOpen = false;
  }
}

function applyCall(call) {
  let item = items.get(call.contact_id);
  const mine = call.agent_id === myAgentId;
  const over = call.state === "ended" || call.state === "transferred";
  if (!item) {
    // A call the router did not offer (click-to-dial): the call itself is the work.
    if (!mine || over) return;
    item = itemFor(call.contact_id, { channel: "voice", queue: call.queue, phase: "connected" });
    item.outbound = true;
    item.customerId = item.customerId ?? pendingDialCustomer;
    selectedId = item.contactId;
  }
  item.call = call;
  if (item.phase === "connected" && !item.connectedAt && call.state === "talking") item.connectedAt = serverNow();
  if (item.outbound && (over || !mine)) {
    removeItem(item.contactId);
  } else if (item.phase === "connected" && ((call.agent_id && !mine) || call.state === "transferred")) {
    // Asterisk moved the call to another phone (a completed transfer): it is not ours.
    toastTransferred(call.agent_id);
    removeItem(item.contactId);
  }
}

function toastTransferred(agentId) {
  const name = agentId ? people[String(agentId)] : null;
  toast(name ? t("Transferred: the customer is now with {name}.", { name }) : t("The call was transferred."));
}

// ------------------------------------------------------------------ hub messages
const LEAVING = {
  "contact.offer_declined": null,
  "contact.offer_timed_out": () => t("You did not answer in time: the contact went back to the queue."),
  "contact.abandoned": () => t("The customer left before you answered."),
  "contact.wrap_up_ended": null,
  "contact.closed": null,
};
const TIMELINE_EVENTS = new Set(["contact.wrapped_up", "contact.wrap_up_ended", "contact.closed"]);

function onMessage(message) {
  switch (message.type) {
    case "snapshot":
      applySnapshot(message);
      break;
    case "offer":
      upsertOffer(message.offer, { live: true });
      break;
    case "contact":
      onContact(message);
      break;
    case "agent_state":
      if (stateBar && message.agent_id === myAgentId) stateBar.fromMessage(message);
      break;
    case "call":
      applyCall(message);
      break;
    case "chat":
      chats.onHub(message);
      break;
    default:
      return;
  }
  render();
}

function applySnapshot(snapshot) {
  if (stateBar) stateBar.fromStatus(snapshot.agent);
  const keep = new Set();
  for (const offer of snapshot.offers || []) {
    upsertOffer(offer, { live: false });
    keep.add(offer.contact_id);
  }
  for (const contact of snapshot.contacts || []) {
    const item = itemFor(contact.contact_id, { channel: contact.channel, queue: contact.queue, customerId: contact.customer_id });
    item.phase = contact.state === "wrap_up" ? "wrap_up" : "connected";
    item.customerId = contact.customer_id;
    keep.add(contact.contact_id);
  }
  for (const call of snapshot.calls || []) {
    applyCall(call);
    if (items.has(call.contact_id)) keep.add(call.contact_id);
  }
  for (const contactId of [...items.keys()]) if (!keep.has(contactId)) removeItem(contactId);
  chats.sync([...items.values()]);
}

function onContact(message) {
  if (message.topic.startsWith("customer:")) {
    if (TIMELINE_EVENTS.has(message.event)) customerArea.refreshIf(message.customer_id);
    return;
  }
  const details = message.details || {};
  const item = items.get(message.contact_id);
  switch (message.event) {
    case "contact.connected": {
      const connected = itemFor(message.contact_id, { channel: message.channel, queue: message.queue, customerId: message.customer_id });
      connected.phase = "connected";
      connected.connectedAt = message.at;
      alert.dismiss(message.contact_id);
      selectedId = connected.contactId;
      break;
    }
    case "contact.attached":
      if (details.state === "connected" && item) {
        item.phase = "connected";
        item.connectedAt = item.connectedAt || message.at;
      }
      break;
    case "contact.wrap_up_started": {
      const wrapping = itemFor(message.contact_id, { channel: message.channel, queue: message.queue, customerId: message.customer_id });
      wrapping.phase = "wrap_up";
      wrapping.wrapDeadline = details.deadline ?? null;
      selectedId = selectedId && items.get(selectedId)?.phase === "offered" ? selectedId : wrapping.contactId;
      break;
    }
    case "contact.transferred":
      if (details.from_agent_id === myAgentId && details.to_agent_id !== myAgentId) {
        if (item) {
          if (item.channel === "chat") toast(t("The chat was transferred."));
          else toastTransferred(details.to_agent_id);
        }
        removeItem(message.contact_id);
      } else if (details.to_agent_id === myAgentId && item) {
        item.transferFrom = details.from_queue || null;
      }
      break;
    case "contact.wrapped_up":
      customerArea.refreshIf(message.customer_id);
      break;
    default: {
      if (!item || !(message.event in LEAVING)) break;
      const ringing = item.phase === "offered";
      const ends = message.event === "contact.closed" || message.event === "contact.wrap_up_ended";
      if (!ringing && !ends) break;
      const explain = LEAVING[message.event];
      if (explain && ringing) toast(explain(), "error");
      removeItem(message.contact_id);
    }
  }
}

function onStatus(status, detail) {
  hubStatus.dataset.status = status;
  if (status === "live") {
    replace(hubStatus, t("Live"));
    hubStatus.dataset.resumed = String(Boolean(detail && detail.resumed));
    connectionNotice.hidden = true;
    if (detail && detail.grace) graceSeconds = detail.grace;
  } else if (status === "connecting") {
    replace(hubStatus, t("Connecting…"));
  } else if (status === "disconnected") {
    replace(hubStatus, t("Disconnected"));
    disconnectedSince = detail.since;
    connectionNotice.hidden = false;
    drawConnectionNotice();
  } else if (status === "ended") {
    replace(hubStatus, t("Disconnected"));
    connectionNotice.hidden = false;
    replace(connectionNotice, t("The console lost its connection for good ({reason}). Reload the page.", { reason: detail.reason || detail.code }));
  }
}

let graceSeconds = data.disconnect_grace_seconds || 60;
let disconnectedSince = null;
function drawConnectionNotice() {
  if (connectionNotice.hidden || disconnectedSince === null) return;
  const left = Math.max(0, graceSeconds - (Date.now() - disconnectedSince) / 1000);
  replace(
    connectionNotice,
    el("strong", {}, t("Disconnected from the server: reconnecting…")),
    " ",
    left > 0
      ? t("You stay available for {seconds} s more; after that you are set to not ready.", { seconds: Math.ceil(left) })
      : t("You have been set to not ready while disconnected."),
  );
}

function onReply(message) {
  if (message.type === "refused" && message.topic.startsWith("customer:")) customerTopics.delete(message.topic.slice(9));
}

// ---------------------------------------------------------------------- drawing
function selected() {
  if (selectedId && items.has(selectedId)) return items.get(selectedId);
  const all = [...items.values()];
  const next = all.find((i) => i.phase === "offered") || all.find((i) => i.phase === "connected") || all[0] || null;
  selectedId = next ? next.contactId : null;
  return next;
}

function render() {
  const item = selected();
  const focusKey = focusedKey();
  drawWorkList(item);
  const content = item ? drawItem(item) : drawIdle();
  // A chat's pane is the same node from render to render: left in place, it keeps the
  // reply box's text, caret and focus.
  if (workPanel.childNodes.length !== 1 || workPanel.firstChild !== content) replace(workPanel, content);
  workPanel.dataset.phase = item ? item.phase : "idle";
  customerArea.show(item);
  alert.ring([...items.values()].some((i) => i.phase === "offered"));
  if (stateBar) {
    const held = [...items.values()];
    stateBar.setBusy(held.some((i) => i.phase === "connected") ? t("On a contact")
      : held.some((i) => i.phase === "wrap_up") ? t("In wrap-up") : false);
  }
  syncCustomerTopics();
  tick();
  restoreFocus(focusKey);
}

function focusedKey() {
  const active = document.activeElement;
  if (!active || !workPanel.contains(active)) return null;
  return active.id ? `#${active.id}` : active.dataset.action ? `[data-action="${active.dataset.action}"]` : null;
}

function restoreFocus(key) {
  if (!key) return;
  const target = workPanel.querySelector(key);
  if (target && !target.disabled) target.focus();
}

function drawWorkList(current) {
  const all = [...items.values()];
  workList.hidden = all.length < 2;
  replace(workList, all.map((item) => el(
    "button",
    { type: "button", role: "tab", class: `work-tab phase-${item.phase}`, "aria-selected": String(item === current),
      "data-contact-id": item.contactId, onclick: () => { selectedId = item.contactId; transferOpen = false; render(); } },
    el("span", { "aria-hidden": "true" }, CHANNEL_ICONS[item.channel] || "•"), " ",
    customerName(item), " · ", phaseLabel(item.phase),
    chats.unread(item.contactId) ? el("span", { class: "badge badge-unread" }, String(chats.unread(item.contactId))) : null,
  )));
}

function customerName(item) {
  const pop = item.screenPop;
  return (pop && pop.customer && pop.customer.display_name) || (item.call && item.call.caller_number) || channelLabel(item.channel, item.outbound ? "outbound" : "inbound");
}

function phaseLabel(phase) {
  return { offered: t("Ringing"), connected: t("Connected"), wrap_up: t("Wrap-up") }[phase] || phase;
}

function drawIdle() {
  const state = stateBar ? stateBar.state : null;
  const [title, text] = {
    ready: [t("Waiting for the next contact"), t("You are ready: the next call, chat or email for your queues comes here, with the customer's history.")],
    not_ready: [t("You are not ready"), t("No contacts are offered to you. Press Ready (R) when you are back.")],
    offline: [t("You are logged out of routing"), t("Press Ready (R) to start taking contacts.")],
  }[state] || [t("No contact in hand"), t("Use the dial pad or look up a customer.")];
  return el("div", { class: `work-idle idle-${state || "none"}` },
    el("div", { class: "idle-icon", "aria-hidden": "true" }, state === "ready" ? "◎" : "◌"),
    el("h2", {}, title), el("p", { class: "muted" }, text),
    stateBar && state === "not_ready" && stateBar.reason ? el("p", { class: "badge badge-not-ready" }, reasonLabel(stateBar.reason)) : null);
}

function drawItem(item) {
  if (item.phase === "offered") {
    return renderOffer(item, { me, serverNow: serverNow(), pending, onAccept: accept, onDecline: decline });
  }
  if (item.phase === "wrap_up") {
    const form = renderWrapUp(item, { queue: queues[item.queue], pending, serverNow: serverNow(), onSave: saveWrapUp });
    return item.channel === "chat" ? el("div", { class: "chat-wrap-up" }, form, chats.render(item)) : form;
  }
  if (item.channel === "chat") return chats.render(item);
  return el(
    "section",
    { class: `work-card contact-card channel-${item.channel}`, "data-contact-id": item.contactId },
    el("header", { class: "work-head" },
      el("span", { class: "channel-icon", "aria-hidden": "true" }, CHANNEL_ICONS[item.channel] || "•"),
      el("div", { class: "work-title" },
        el("h2", {}, item.outbound ? t("Outgoing call") : channelLabel(item.channel, "inbound")),
        el("p", { class: "muted small" },
          item.queue ? t("Queue {queue}", { queue: item.queue }) : "",
          item.call && item.call.caller_number ? ` · ${item.call.caller_number}` : "")),
      // A call's state is the controls' pill (Asterisk's word); other channels say it here.
      item.channel === "voice" ? null : el("span", { class: "badge badge-connected" }, t("Connected"))),
    item.channel === "voice"
      ? renderCallControls(item, {
          pending, transferOpen, agents: data.agents || [], queues: Object.keys(queues), me, serverNow: serverNow(),
          onAction: (action, body) => runCallAction(item, action, body),
          onTransferOpen: () => { transferOpen = !transferOpen; render(); if (transferOpen) $("#transfer-kind")?.focus(); },
        })
      : el("p", { class: "muted" }, t("This contact is handled in its conversation pane.")),
  );
}

// Countdown, call and wrap-up timers, grace notice: updated in place every 250 ms.
function tick() {
  const item = selectedId ? items.get(selectedId) : null;
  if (item && item.phase === "offered") {
    const left = countdown(item, serverNow());
    const text = $("#offer-countdown");
    if (left && text) {
      replace(text, t("{seconds} s left", { seconds: Math.ceil(left.left) }));
      text.parentElement.dataset.left = String(Math.ceil(left.left));
      const fill = workPanel.querySelector(".countdown-fill");
      fill.style.width = `${(left.share * 100).toFixed(1)}%`;
      fill.parentElement.classList.toggle("is-urgent", left.left < 8);
      fill.parentElement.setAttribute("aria-valuenow", String(Math.round(left.share * 100)));
    }
  }
  const callTimer = $("#call-timer");
  if (callTimer) replace(callTimer, clock(serverNow() - Number(callTimer.dataset.since)));
  const wrapTimer = $("#wrap-timer");
  if (wrapTimer && item && item.wrapDeadline) {
    const left = Math.max(0, item.wrapDeadline - serverNow());
    replace(wrapTimer, clock(left));
    wrapTimer.classList.toggle("is-urgent", left < 15);
  }
  drawConnectionNotice();
}
setInterval(tick, 250);

// ---------------------------------------------------------------------- actions
async function busy(work) {
  if (pending) return undefined;
  pending = true;
  render();
  try {
    return await work();
  } finally {
    pending = false;
    render();
  }
}

function offered() {
  const item = selected();
  return item && item.phase === "offered" ? item : null;
}

function accept() {
  const item = offered();
  if (!item) return undefined;
  if (item.channel === "voice") {
    toast(t("Pick up your phone to answer the call."));
    return undefined;
  }
  return busy(async () => {
    try {
      await api("POST", `/api/v1/offers/${encodeURIComponent(item.contactId)}/accept`);
    } catch (error) {
      toast(t("Could not accept: {message}", { message: error.message }), "error");
    }
  });
}

function decline() {
  const item = offered();
  if (!item) return undefined;
  // A call too: the server hangs up its ringing leg and the router counts the missed
  // offer (the agent goes not ready, the caller goes back to its place in the queue).
  return busy(async () => {
    try {
      await api("POST", `/api/v1/offers/${encodeURIComponent(item.contactId)}/decline`);
      removeItem(item.contactId);
    } catch (error) {
      toast(t("Could not decline: {message}", { message: error.message }), "error");
    }
  });
}

const ACTION_NAMES = {
  hold: () => t("hold"),
  resume: () => t("resume"),
  hangup: () => t("hang up"),
  "recording/start": () => t("start recording"),
  "recording/stop": () => t("stop recording"),
  transfer: () => t("transfer"),
  "transfer/complete": () => t("complete the transfer"),
  "transfer/cancel": () => t("cancel the transfer"),
};

function runCallAction(item, action, body) {
  return busy(async () => {
    try {
      const view = await callAction(item.contactId, action, body);
      if (view && view.contact_id === item.contactId) item.call = { ...(item.call || {}), ...view };
      if (action === "transfer") transferOpen = false;
    } catch (error) {
      const name = (ACTION_NAMES[action] || (() => action))();
      toast(t("Could not {action}: {message}", { action: name, message: error.message }), "error");
    }
  });
}

function activeCall() {
  const item = selected();
  return item && item.phase === "connected" && item.channel === "voice" ? item : null;
}

let pendingDialCustomer = null;
async function dial(number, customerId) {
  if (!data.is_agent) {
    toast(t("Only agents can place calls from the console."), "error");
    return false;
  }
  pendingDialCustomer = customerId;
  try {
    const view = await api("POST", "/api/v1/calls", customerId ? { number, customer_id: Number(customerId) } : { number });
    if (view && view.contact_id) {
      applyCall(view);
      const item = items.get(view.contact_id);
      if (item && customerId && !item.customerId) item.customerId = customerId;
      render();
    }
    toast(t("Calling {number}: pick up your phone.", { number }));
    return true;
  } catch (error) {
    toast(t("Could not call {number}: {message}", { number, message: error.message }), "error");
    return false;
  }
}

function saveWrapUp(finish) {
  const item = selected();
  if (!item || item.phase !== "wrap_up") return undefined;
  return busy(async () => {
    const draft = item.wrapDraft;
    try {
      const result = await api("POST", `/api/v1/contacts/${encodeURIComponent(item.contactId)}/wrap-up`, {
        disposition: draft.disposition || null,
        notes: draft.notes.trim() ? draft.notes : null,
        finish,
      });
      item.wrapError = null;
      customerArea.refreshIf(item.customerId);
      if (finish && result && result.finished !== false) {
        removeItem(item.contactId);
        toast(t("Wrap-up saved. You are available again."));
      } else {
        toast(t("Wrap-up saved."));
      }
    } catch (error) {
      item.wrapError = t("Could not save the wrap-up: {message}", { message: error.message });
    }
  });
}

// The caller's provisional profile was linked to (or confirmed as) a customer.
function relink(item, customerId) {
  item.customerId = customerId;
  item.screenPop = null;
  render();
}

function syncCustomerTopics() {
  if (!data.is_agent) return;
  const wanted = new Set([...items.values()].map((i) => i.customerId).filter((id) => id !== null && id !== undefined).map(String));
  for (const id of wanted) {
    if (!customerTopics.has(id)) {
      customerTopics.add(id);
      hub.subscribe(`customer:${id}`);
    }
  }
  for (const id of [...customerTopics]) {
    if (!wanted.has(id)) {
      customerTopics.delete(id);
      hub.unsubscribe(`customer:${id}`);
    }
  }
}

// ---------------------------------------------------------------- page controls
const muteButton = $("#sound-toggle");
function drawMute() {
  muteButton.setAttribute("aria-pressed", String(alert.muted));
  replace(muteButton, alert.muted ? t("Sound off") : t("Sound on"));
}
muteButton.addEventListener("click", () => {
  alert.setMuted(!alert.muted);
  drawMute();
});
drawMute();

const notifyButton = $("#notify-toggle");
function drawNotify() {
  const permission = alert.notificationPermission();
  notifyButton.hidden = permission === "granted" || permission === "unsupported";
  notifyButton.disabled = permission === "denied";
  replace(notifyButton, permission === "denied" ? t("Notifications blocked") : t("Enable notifications"));
}
notifyButton.addEventListener("click", async () => {
  await alert.askPermission();
  drawNotify();
});
drawNotify();

const help = $("#help-dialog");
function toggleHelp() {
  if (help.open) help.close();
  else help.showModal();
}
$("#help-open").addEventListener("click", toggleHelp);
$("#help-close").addEventListener("click", () => help.close());

mountDialPad($("#dial-pad"), { onDial: dial });

installShortcuts({
  a: accept,
  d: decline,
  h: () => {
    const item = activeCall();
    const consulting = item && item.call && item.call.transfer && item.call.transfer.mode === "attended";
    if (item && !consulting) runCallAction(item, item.call && item.call.held ? "resume" : "hold");
  },
  e: () => {
    const item = activeCall();
    if (item) runCallAction(item, "hangup");
  },
  t: () => {
    if (activeCall()) {
      transferOpen = true;
      render();
      $("#transfer-kind")?.focus();
    }
  },
  r: () => stateBar && stateBar.toggleReady(),
  n: () => stateBar && stateBar.request("not_ready", $("#not-ready-reason").value),
  m: () => muteButton.click(),
  "?": toggleHelp,
});

// Dispositions per queue (GET /api/v1/queues); the page data has the rest.
api("GET", "/api/v1/queues")
  .then((answer) => {
    for (const queue of (answer && answer.items) || []) queues[queue.name] = { ...(queues[queue.name] || {}), ...queue };
    render();
  })
  .catch(() => {
    // Without dispositions the wrap-up form still takes notes and finishes.
  });

const hub = new HubClient({ path: data.hub_path, onMessage, onStatus, onReply });
render();
hub.start();
