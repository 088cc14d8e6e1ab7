// The state bar: the agent's state in the router (READY / NOT_READY with a reason /
// OFFLINE), time in that state, and the buttons that change it.
//
// The state is the router's, not the page's: the bar shows what the hub says (the
// snapshot, then agent_state messages) and a button only asks (PUT
// /api/v1/agents/me/state); a failure leaves the bar as it was and says why.

import { api } from "./api.js";
import { el, replace, toast } from "./dom.js";
import { t } from "./i18n.js";

export function reasonLabel(reason) {
  const known = {
    break: t("Break"),
    lunch: t("Lunch"),
    training: t("Training"),
    meeting: t("Meeting"),
    "missed-offer": t("Missed offer"),
    "no-answer": t("Missed offer"),
    disconnected: t("Disconnected"),
    "phone-unreachable": t("Phone unreachable"),
  };
  return known[reason] || reason || "";
}

// A running timer as a clock: 0:07, 12:34, 1:02:03 (steady width while it ticks).
export function clock(seconds) {
  let rest = Math.max(0, Math.floor(seconds));
  const hours = Math.floor(rest / 3600);
  rest -= hours * 3600;
  const minutes = Math.floor(rest / 60);
  const secs = String(rest - minutes * 60).padStart(2, "0");
  return hours ? `${hours}:${String(minutes).padStart(2, "0")}:${secs}` : `${minutes}:${secs}`;
}

export function stateLabel(state) {
  return { ready: t("Ready"), not_ready: t("Not ready"), offline: t("Offline") }[state] || state || "";
}

export class StateBar {
  constructor(root, { reasons, serverOffset }) {
    this.root = root;
    this.reasons = reasons;
    // Server clock minus this browser's, in seconds (the page data's server_time).
    this.serverOffset = serverOffset || 0;
    this.state = null;
    this.reason = null;
    this.since = null;
    this.busy = false;
    this.pending = false;
    this.label = root.querySelector("#state-label");
    this.reasonText = root.querySelector("#state-reason");
    this.timer = root.querySelector("#state-timer");
    this.readyButton = root.querySelector("#state-ready");
    this.notReadyButton = root.querySelector("#state-not-ready");
    this.offlineButton = root.querySelector("#state-offline");
    this.busyLabel = root.querySelector(".state-busy-label");
    this.reasonSelect = root.querySelector("#not-ready-reason");
    replace(
      this.reasonSelect,
      reasons.map((reason) => el("option", { value: reason }, reasonLabel(reason))),
    );
    this.readyButton.addEventListener("click", () => this.request("ready"));
    this.notReadyButton.addEventListener("click", () => this.request("not_ready", this.reasonSelect.value));
    this.offlineButton.addEventListener("click", () => this.request("offline"));
    setInterval(() => this.tick(), 1000);
  }

  // From the snapshot's AgentStatus: state_seconds counts from the snapshot's moment.
  fromStatus(status) {
    if (!status) return;
    this.set(status.state, status.reason, Date.now() / 1000 - (status.state_seconds || 0));
  }

  // From an agent_state message: `at` is server time.
  fromMessage(message) {
    this.set(message.state, message.reason, message.at - this.serverOffset);
    if (message.by === "system" && message.state === "not_ready") {
      toast(t("You were set to not ready: {reason}", { reason: reasonLabel(message.reason) }), "error");
    } else if (message.by === "supervisor") {
      toast(t("A supervisor set your state to {state}", { state: stateLabel(message.state) }));
    }
  }

  set(state, reason, since) {
    const same = state === this.state && (state !== "not_ready" || reason === this.reason);
    // A repeated state (another tab's request, a replay) keeps its start time.
    if (same && this.since !== null) since = Math.min(since, this.since);
    this.state = state;
    this.reason = state === "not_ready" ? reason : null;
    this.since = since;
    this.draw();
  }

  // `busy`: false, or what the agent is busy with ("On a contact", "In wrap-up").
  setBusy(busy) {
    if (busy === this.busy) return;
    this.busy = busy;
    if (busy && this.busyLabel) replace(this.busyLabel, busy);
    this.draw();
  }

  draw() {
    const state = this.state || "offline";
    this.root.dataset.state = state;
    this.root.classList.toggle("is-busy", Boolean(this.busy));
    replace(this.label, stateLabel(state));
    replace(this.reasonText, this.reason ? reasonLabel(this.reason) : "");
    this.reasonText.hidden = !this.reason;
    this.readyButton.setAttribute("aria-pressed", String(state === "ready"));
    this.notReadyButton.setAttribute("aria-pressed", String(state === "not_ready"));
    this.offlineButton.setAttribute("aria-pressed", String(state === "offline"));
    if (this.reason && this.reasons.includes(this.reason)) this.reasonSelect.value = this.reason;
    for (const button of [this.readyButton, this.notReadyButton, this.offlineButton]) button.disabled = this.pending;
    this.tick();
  }

  tick() {
    if (this.since === null) {
      replace(this.timer, "");
      return;
    }
    replace(this.timer, clock(Date.now() / 1000 - this.since));
  }

  // Ask the router for a state; the bar changes when the hub confirms it (the answer
  // is applied at once too, so a slow hub does not leave the agent wondering).
  async request(state, reason) {
    if (this.pending) return;
    this.pending = true;
    this.draw();
    try {
      const body = state === "not_ready" ? { state, reason: reason || this.reasons[0] || null } : { state };
      const view = await api("PUT", "/api/v1/agents/me/state", body);
      if (view && (view.state !== this.state || view.reason !== this.reason)) {
        this.set(view.state, view.reason, Date.now() / 1000 - (view.state_seconds || 0));
      }
    } catch (error) {
      toast(t("Could not change your state: {message}", { message: error.message }), "error");
    } finally {
      this.pending = false;
      this.draw();
    }
  }

  toggleReady() {
    if (this.state === "ready") return this.request("not_ready", this.reasonSelect.value);
    return this.request("ready");
  }
}
