// The supervisor's actions from the wallboard, each in the page's one dialog:
//   an agent: force ready / not ready with a reason / log out
//             (PUT /api/v1/agents/{id}/state), and listen / whisper / barge on their
//             live call (POST|DELETE /api/v1/calls/{contact}/monitor: the supervisor's
//             own phone rings);
//   a waiting contact: move to another queue or a named agent
//             (POST /api/v1/contacts/{id}/move), change its priority
//             (POST /api/v1/contacts/{id}/priority), read the router's explanation of
//             each decision (GET /api/v1/contacts/{id}/explanation).
// The server authorises and audit-logs every action; a refusal shows its message in the
// dialog and changes nothing. The board shows the result when the hub reports it.

import { api } from "./api.js";
import { el, replace, toast } from "./dom.js";
import { formatDate, formatNumber, t } from "./i18n.js";
import { channelShort, reasonLabel, stateLabel } from "./wallboard_model.js";

const MONITOR_MODES = ["listen", "whisper", "barge"];

function modeLabel(mode) {
  return { listen: t("Listen"), whisper: t("Whisper"), barge: t("Barge in") }[mode] || mode;
}

function verdictLabel(verdict) {
  return (
    {
      winner: t("Chosen"),
      eligible: t("Eligible"),
      declined: t("Declined"),
      "not-ready": t("Not ready"),
      offline: t("Offline"),
      "over-capacity": t("At capacity"),
      busy: t("Busy on another channel"),
      "channel-not-in-profile": t("Channel not in profile"),
      unavailable: t("Unavailable"),
      "no-skill": t("Missing a skill"),
    }[verdict] || verdict
  );
}

function triggerLabel(trigger) {
  return (
    {
      strategy: t("The queue's strategy"),
      "agent-available": t("An agent became free"),
      sticky: t("Back to the last agent"),
      direct: t("Sent to a named agent"),
    }[trigger] || trigger
  );
}

export class ActionDialog {
  constructor({ dialog, queues, reasons, names, myExtension, board, waiting }) {
    this.dialog = dialog;
    this.title = dialog.querySelector("#action-title");
    this.body = dialog.querySelector("#action-body");
    this.error = dialog.querySelector("#action-error");
    this.queues = queues;
    this.reasons = reasons;
    this.names = names;
    this.myExtension = myExtension;
    this.board = board; // () => the current board
    this.waiting = waiting; // WaitingContacts
    this.busy = false;
    dialog.querySelector("#action-close").addEventListener("click", () => dialog.close());
  }

  open(title, ...content) {
    this.title.textContent = title;
    this.error.hidden = true;
    replace(this.body, ...content);
    if (!this.dialog.open) this.dialog.showModal();
    const first = this.body.querySelector("button, select, input");
    if (first) first.focus();
  }

  fail(prefix, error) {
    this.error.textContent = `${prefix}: ${error.message}`;
    this.error.hidden = false;
  }

  // Run an API call from a button: the buttons are disabled meanwhile; success closes
  // the dialog and says so, failure keeps it open with the server's reason.
  async run(button, work, { done, failed, keepOpen }) {
    if (this.busy) return;
    this.busy = true;
    const buttons = [...this.body.querySelectorAll("button")].filter((each) => !each.disabled);
    for (const each of buttons) each.disabled = true;
    this.error.hidden = true;
    try {
      const result = await work();
      toast(done);
      if (!keepOpen) this.dialog.close();
      return result;
    } catch (error) {
      this.fail(failed, error);
      return undefined;
    } finally {
      this.busy = false;
      for (const each of buttons) each.disabled = false;
      if (this.dialog.open && button && button.isConnected) button.focus();
    }
  }

  agentActions(agentId) {
    const agent = this.board().agents.find((item) => item.id === agentId);
    if (!agent) return;
    const setState = (button, body, done) =>
      this.run(button, () => api("PUT", `/api/v1/agents/${encodeURIComponent(agentId)}/state`, body), {
        done,
        failed: t("Could not change {name}'s state", { name: agent.name }),
      });
    const reason = el(
      "select",
      { id: "force-reason", "aria-label": t("Reason") },
      this.reasons.map((code) => el("option", { value: code }, reasonLabel(code))),
    );
    const ready = el("button", { type: "button", class: "button button-ready", "data-action": "force-ready" }, t("Ready"));
    const notReady = el("button", { type: "button", class: "button button-not-ready", "data-action": "force-not-ready" }, t("Not ready"));
    const offline = el("button", { type: "button", class: "button button-danger", "data-action": "force-offline" }, t("Log out"));
    // What the agent already is cannot be asked again (a not-ready reason can change).
    ready.disabled = agent.state === "ready";
    offline.disabled = agent.state === "offline";
    ready.addEventListener("click", () => setState(ready, { state: "ready" }, t("{name} is ready.", { name: agent.name })));
    notReady.addEventListener("click", () =>
      setState(notReady, { state: "not_ready", reason: reason.value }, t("{name} is not ready.", { name: agent.name })),
    );
    offline.addEventListener("click", () => setState(offline, { state: "offline" }, t("{name} is logged out.", { name: agent.name })));

    const calls = agent.contacts.filter((contact) => contact.channel === "voice" && contact.phase === "connected");
    const monitorSection = el(
      "section",
      { class: "action-section", "aria-labelledby": "monitor-title" },
      el("h3", { id: "monitor-title" }, t("Live call")),
      calls.length
        ? [
            this.myExtension
              ? el("p", { class: "small muted" }, t("Your phone ({extension}) rings; answer it to listen.", { extension: this.myExtension }))
              : el("p", { class: "notice small" }, t("Your account has no phone extension: monitoring needs one.")),
            calls.map((call) => this.monitorRow(agent, call)),
          ]
        : el("p", { class: "muted small" }, t("No live call to monitor.")),
    );
    this.open(
      t("Actions for {name}", { name: agent.name }),
      el(
        "p",
        { class: "action-now" },
        t("Now: {state}", { state: stateLabel(agent.activity) }),
        agent.reason ? ` · ${reasonLabel(agent.reason)}` : "",
      ),
      el(
        "section",
        { class: "action-section", "aria-labelledby": "force-title" },
        el("h3", { id: "force-title" }, t("Change the agent's state")),
        el("p", { class: "small muted" }, t("The agent's console shows the change.")),
        el("div", { class: "form-row" }, ready, el("span", { class: "not-ready-group" }, reason, notReady), offline),
      ),
      monitorSection,
    );
  }

  monitorRow(agent, call) {
    const buttons = MONITOR_MODES.map((mode) => {
      const button = el(
        "button",
        { type: "button", class: "button", "data-action": `monitor-${mode}`, "data-contact-id": call.contactId, disabled: !this.myExtension },
        modeLabel(mode),
      );
      button.addEventListener("click", () =>
        this.run(button, () => api("POST", `/api/v1/calls/${encodeURIComponent(call.contactId)}/monitor`, { mode }), {
          done: t("{mode}: your phone is ringing.", { mode: modeLabel(mode) }),
          failed: t("Could not start {mode}", { mode: modeLabel(mode) }),
          keepOpen: true,
        }),
      );
      return button;
    });
    const stop = el(
      "button",
      { type: "button", class: "button button-quiet", "data-action": "monitor-stop", "data-contact-id": call.contactId, disabled: !this.myExtension },
      t("Stop"),
    );
    stop.addEventListener("click", () =>
      this.run(stop, () => api("DELETE", `/api/v1/calls/${encodeURIComponent(call.contactId)}/monitor`), {
        done: t("Monitoring stopped."),
        failed: t("Could not stop monitoring"),
        keepOpen: true,
      }),
    );
    const who = call.customerName || t("Unknown customer");
    return el(
      "div",
      { class: "monitor-row", "data-contact-id": call.contactId },
      el("span", { class: "monitor-who" }, `${channelShort(call.channel)} · ${who} · ${call.queue}`),
      el("span", { class: "form-row" }, buttons, stop),
    );
  }

  waitingContact(contactId) {
    return this.waiting.get(contactId);
  }

  move(contactId) {
    const contact = this.waitingContact(contactId);
    if (!contact) return;
    const kind = el(
      "select",
      { id: "move-kind" },
      el("option", { value: "queue" }, t("Another queue")),
      el("option", { value: "agent" }, t("A named agent")),
    );
    const queueSelect = el(
      "select",
      { id: "move-queue" },
      this.queues.filter((queue) => queue !== contact.queue).map((queue) => el("option", { value: queue }, queue)),
    );
    const agentSelect = el(
      "select",
      { id: "move-agent", hidden: true },
      Object.entries(this.names)
        .sort((a, b) => a[1].localeCompare(b[1]))
        .map(([id, name]) => el("option", { value: id }, name)),
    );
    const queueLabel = el("label", { for: "move-queue" }, t("Queue"));
    const agentLabel = el("label", { for: "move-agent", hidden: true }, t("Agent"));
    kind.addEventListener("change", () => {
      const toAgent = kind.value === "agent";
      queueSelect.hidden = toAgent;
      queueLabel.hidden = toAgent;
      agentSelect.hidden = !toAgent;
      agentLabel.hidden = !toAgent;
    });
    const submit = el("button", { type: "button", class: "button button-primary", "data-action": "move-submit" }, t("Move"));
    submit.addEventListener("click", () => {
      const toAgent = kind.value === "agent";
      const body = toAgent ? { agent_id: agentSelect.value } : { queue: queueSelect.value };
      const target = toAgent ? this.names[agentSelect.value] : queueSelect.value;
      if (!toAgent && !queueSelect.value) {
        this.fail(t("Could not move the contact"), { message: t("there is no other queue") });
        return;
      }
      this.run(submit, () => api("POST", `/api/v1/contacts/${encodeURIComponent(contactId)}/move`, body), {
        done: t("Moved to {target}.", { target }),
        failed: t("Could not move the contact"),
      });
    });
    this.open(
      t("Move a waiting contact"),
      el("p", {}, t("{who}, waiting in {queue}", { who: contact.customerId ? t("Customer #{id}", { id: contact.customerId }) : t("Unknown customer"), queue: contact.queue })),
      el(
        "div",
        { class: "form-stack" },
        el("label", { for: "move-kind" }, t("Move to")),
        kind,
        queueLabel,
        queueSelect,
        agentLabel,
        agentSelect,
        el("div", {}, submit),
      ),
    );
  }

  priority(contactId) {
    const contact = this.waitingContact(contactId);
    if (!contact) return;
    const input = el("input", { type: "number", id: "priority-value", step: "1", value: String(contact.priority) });
    const submit = el("button", { type: "button", class: "button button-primary", "data-action": "priority-submit" }, t("Set priority"));
    submit.addEventListener("click", () => {
      const value = Number(input.value);
      if (!Number.isInteger(value)) {
        this.fail(t("Could not change the priority"), { message: t("a whole number is needed") });
        return;
      }
      this.run(submit, () => api("POST", `/api/v1/contacts/${encodeURIComponent(contactId)}/priority`, { priority: value }), {
        done: t("Priority set to {priority}.", { priority: value }),
        failed: t("Could not change the priority"),
      });
    });
    this.open(
      t("Change the priority"),
      el("p", { class: "small muted" }, t("Higher priorities are offered first within the queue.")),
      el("div", { class: "form-stack" }, el("label", { for: "priority-value" }, t("Priority")), input, el("div", {}, submit)),
    );
  }

  async explain(contactId) {
    this.open(t("Why this contact is where it is"), el("p", { class: "loading" }, t("Loading…")));
    let answer;
    try {
      answer = await api("GET", `/api/v1/contacts/${encodeURIComponent(contactId)}/explanation`);
    } catch (error) {
      replace(this.body);
      this.fail(t("Could not load the explanation"), error);
      return;
    }
    replace(this.body, this.renderExplanation(answer));
  }

  renderExplanation(answer) {
    const decisions = (answer && answer.decisions) || [];
    if (!decisions.length) {
      return el("p", { class: "empty" }, t("No routing decision yet: the contact waits for an agent to become free."));
    }
    const name = (id) => this.names[String(id)] || id;
    return el(
      "ol",
      { class: "explanation-list" },
      decisions.map((decision) =>
        el(
          "li",
          { class: "explanation" },
          el(
            "p",
            { class: "explanation-head" },
            el("strong", {}, formatDate(decision.at, { timeStyle: "medium" })),
            " · ",
            triggerLabel(decision.decided_by || decision.trigger),
            decision.strategy ? ` · ${t("strategy {strategy}", { strategy: decision.strategy })}` : "",
            decision.agent_id ? ` · ${t("offered to {name}", { name: name(decision.agent_id) })}` : "",
          ),
          (decision.candidates || []).length
            ? el(
                "table",
                { class: "table explanation-table" },
                el("thead", {}, el("tr", {}, el("th", { scope: "col" }, t("Candidate")), el("th", { scope: "col" }, t("Verdict")), el("th", { scope: "col", class: "number" }, t("Score")))),
                el(
                  "tbody",
                  {},
                  decision.candidates.map(([id, verdict, score]) =>
                    el("tr", { class: verdict === "winner" ? "is-winner" : "" }, el("td", {}, name(id)), el("td", {}, verdictLabel(verdict)), el("td", { class: "number" }, formatNumber(score, { maximumFractionDigits: 2 }))),
                  ),
                ),
              )
            : null,
          Object.keys(decision.counts || {}).length
            ? el(
                "p",
                { class: "small muted" },
                Object.entries(decision.counts)
                  .map(([verdict, count]) => `${verdictLabel(verdict)}: ${formatNumber(count)}`)
                  .join(" · "),
              )
            : null,
        ),
      ),
    );
  }
}
