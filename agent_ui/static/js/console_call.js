// Call controls for the agent's call: the call's real state (from the hub's `call`
// messages, which follow Asterisk), hold / resume, record, blind and attended transfer
// (to an agent, a queue or a number), hang up; and the dial pad for click-to-dial.
//
// A button only asks (POST /api/v1/calls/...). What is shown changes when Asterisk
// says so: "On hold" appears when the call message says held, not when the button is
// pressed. A refused action shows the server's reason and changes nothing.

import { api } from "./api.js";
import { el, replace } from "./dom.js";
import { t } from "./i18n.js";
import { clock } from "./console_state.js";

export function callStateLabel(call) {
  if (!call) return t("Connecting…");
  if (call.held) return t("On hold");
  return (
    {
      new: t("Connecting…"),
      queued: t("In queue"),
      ringing: t("Ringing"),
      dialing: t("Dialling…"),
      talking: t("Talking"),
      held: t("On hold"),
      transferring: t("Transferring…"),
      transferred: t("Transferred"),
      ended: t("Ended"),
    }[call.state] || call.state
  );
}

function transferLabel(transfer, agents) {
  if (!transfer) return "";
  const target = transfer.target || {};
  const colleague = target.agent_id ? (agents || []).find((agent) => String(agent.id) === String(target.agent_id)) : null;
  const who = target.agent_id ? t("agent {name}", { name: (colleague && colleague.name) || target.name || target.agent_id })
    : target.queue ? t("queue {queue}", { queue: target.queue })
      : target.number || "";
  const mode = transfer.mode === "attended" ? t("Consulting {who}", { who }) : t("Transferring to {who}", { who });
  return transfer.state ? `${mode} (${transferStateLabel(transfer.state)})` : mode;
}

function transferStateLabel(state) {
  return { ringing: t("ringing"), queued: t("queued"), dialing: t("dialling"), consulting: t("talking"), completing: t("completing") }[state] || state;
}

// One call action: the path after /api/v1/calls/<contact id>; `body` for transfers.
export async function callAction(contactId, action, body) {
  return api("POST", `/api/v1/calls/${encodeURIComponent(contactId)}/${action}`, body);
}

export function renderCallControls(item, context) {
  const { pending, onAction, onTransferOpen, transferOpen, agents, queues, me, serverNow } = context;
  const call = item.call;
  const held = Boolean(call && call.held);
  const recording = Boolean(call && call.recording);
  const transfer = call && call.transfer;
  const consulting = Boolean(transfer && transfer.mode === "attended");
  const live = !call || !["ended", "transferred"].includes(call.state);
  const since = item.connectedAt;
  const button = (action, label, attrs = {}, key) =>
    el("button", { type: "button", class: `button ${attrs.class || ""}`, "data-action": action, disabled: pending || !live || attrs.disabled,
      "aria-pressed": attrs.pressed === undefined ? null : String(attrs.pressed), onclick: () => onAction(action) },
    label, key ? el("kbd", {}, key) : null);

  return el(
    "section",
    { class: `call-controls ${held ? "is-held" : ""}`, "aria-label": t("Call controls"), "data-call-state": call ? call.state : "unknown", "data-held": String(held) },
    el(
      "div",
      { class: "call-status" },
      el("span", { class: `call-state-pill ${held ? "is-held" : ""}`, id: "call-state" }, callStateLabel(call)),
      since ? el("span", { class: "call-timer", id: "call-timer", dataset: { since: String(since) } }, clock(serverNow - since)) : null,
      recording ? el("span", { class: "recording-dot", "data-recording": "true" }, t("Recording")) : null,
      transfer ? el("span", { class: "transfer-status", "data-transfer-state": transfer.state || "" }, transferLabel(transfer, agents)) : null,
    ),
    consulting
      // While consulting, the customer holds (Asterisk's Atxfer): the agent's choices
      // are to hand the call over or to come back to the customer.
      ? el(
          "div",
          { class: "call-buttons consult-buttons" },
          el("p", { class: "consult-hint small" }, t("The customer is on hold while you talk to your colleague.")),
          button("transfer/complete", t("Complete transfer"), { class: "button-primary", disabled: transfer.state === "completing" }),
          button("transfer/cancel", t("Back to the customer"), { disabled: transfer.state === "completing" }),
          button("hangup", t("Hang up"), { class: "button-hangup" }, "E"),
        )
      : el(
          "div",
          { class: "call-buttons" },
          held ? button("resume", t("Resume"), { class: "button-primary" }, "H") : button("hold", t("Hold"), {}, "H"),
          recording ? button("recording/stop", t("Stop recording"), { pressed: true }) : button("recording/start", t("Record"), { pressed: false }),
          el("button", { type: "button", class: "button", "data-action": "transfer-open", "aria-expanded": String(transferOpen),
            disabled: pending || !live || Boolean(transfer), onclick: onTransferOpen }, t("Transfer…"), el("kbd", {}, "T")),
          button("hangup", t("Hang up"), { class: "button-hangup" }, "E"),
        ),
    transferOpen && !transfer ? renderTransferForm(item, { agents, queues, me, onAction, pending }) : null,
  );
}

function renderTransferForm(item, { agents, queues, me, onAction, pending }) {
  const others = agents.filter((agent) => agent.id !== me.id);
  const targetSelect = el("select", { id: "transfer-target", name: "target", required: true });
  const numberInput = el("input", { id: "transfer-number", name: "number", type: "tel", inputmode: "tel", autocomplete: "off",
    placeholder: t("Phone number"), hidden: true, pattern: "[0-9+*#() ./-]{1,40}" });
  const kindSelect = el("select", { id: "transfer-kind", name: "kind" },
    el("option", { value: "agent" }, t("Agent")),
    el("option", { value: "queue" }, t("Queue")),
    el("option", { value: "number" }, t("Number")));
  const modeBlind = el("input", { type: "radio", name: "mode", value: "blind", id: "transfer-blind", checked: true });
  const modeAttended = el("input", { type: "radio", name: "mode", value: "attended", id: "transfer-attended" });

  function fillTargets() {
    const kind = kindSelect.value;
    numberInput.hidden = kind !== "number";
    targetSelect.hidden = kind === "number";
    // Attended transfers consult an agent first; queues and numbers go blind.
    modeAttended.disabled = kind !== "agent";
    if (modeAttended.disabled) modeBlind.checked = true;
    if (kind === "agent") {
      replace(targetSelect, others.length
        ? others.map((agent) => el("option", { value: String(agent.id) }, agent.extension ? `${agent.name} (${agent.extension})` : agent.name))
        : el("option", { value: "" }, t("No other agents")));
    } else if (kind === "queue") {
      replace(targetSelect, queues.map((queue) => el("option", { value: queue }, queue)));
    }
  }
  kindSelect.addEventListener("change", fillTargets);
  fillTargets();

  const form = el(
    "form",
    { class: "transfer-form", "aria-label": t("Transfer the call") },
    el("div", { class: "form-row" },
      el("label", { class: "field" }, el("span", {}, t("Transfer to")), kindSelect),
      el("label", { class: "field field-grow" }, el("span", { class: "visually-hidden" }, t("Target")), targetSelect, numberInput)),
    el("fieldset", { class: "transfer-mode" },
      el("legend", { class: "visually-hidden" }, t("How")),
      el("label", {}, modeBlind, " ", t("Blind (hand over now)")),
      el("label", {}, modeAttended, " ", t("Attended (talk to them first)"))),
    el("div", { class: "form-row" },
      el("button", { type: "submit", class: "button button-primary", "data-action": "transfer", disabled: pending }, t("Transfer"))),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const kind = kindSelect.value;
    let to;
    if (kind === "agent") to = { agent_id: targetSelect.value };
    else if (kind === "queue") to = { queue: targetSelect.value };
    else to = { number: numberInput.value.trim() };
    const value = Object.values(to)[0];
    if (!value) {
      (kind === "number" ? numberInput : targetSelect).focus();
      return;
    }
    onAction("transfer", { mode: modeAttended.checked ? "attended" : "blind", to });
  });
  return form;
}

// The dial pad: type or click a number, then call it (click-to-dial rings the agent's
// phone first, then the number).
export function mountDialPad(container, { onDial }) {
  const input = el("input", { id: "dial-number", type: "tel", inputmode: "tel", autocomplete: "off", maxlength: "40",
    placeholder: t("Number to call"), "aria-label": t("Number to call") });
  const keys = ["1", "2", "3", "4", "5", "6", "7", "8", "9", "*", "0", "#"];
  const pad = el("div", { class: "dial-keys", role: "group", "aria-label": t("Dial pad") },
    keys.map((key) => el("button", { type: "button", class: "dial-key", "data-key": key, onclick: () => {
      input.value += key;
      input.focus();
    } }, key)));
  const call = el("button", { type: "submit", class: "button button-call", "data-action": "dial" }, "☎ ", t("Call"));
  const clearButton = el("button", { type: "button", class: "button button-quiet", "aria-label": t("Delete last digit"), onclick: () => {
    input.value = input.value.slice(0, -1);
    input.focus();
  } }, "⌫");
  const form = el("form", { class: "dial-form" }, el("div", { class: "dial-input" }, input, clearButton), pad, call);
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const number = input.value.trim();
    if (!number) {
      input.focus();
      return;
    }
    call.disabled = true;
    try {
      if (await onDial(number, null)) input.value = "";
    } finally {
      call.disabled = false;
    }
  });
  replace(container, form);
  return { input };
}
