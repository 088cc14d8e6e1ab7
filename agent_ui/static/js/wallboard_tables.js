// The wallboard's tables: queues (thresholds colour the cells), agents (state colours,
// time in state and contact durations ticking) and waiting contacts. Each render
// builds the table anew from the board; ticking cells carry `data-since` (server time)
// and `tick()` rewrites only their text every second. Buttons carry `data-focus-key`
// so the focus survives a re-render (keyboard users do not lose their place).

import { el } from "./dom.js";
import { formatNumber, t } from "./i18n.js";
import { clock } from "./console_state.js";
import { channelShort, channelWord, reasonLabel, stateClass, stateLabel } from "./wallboard_model.js";

// value: a percentage as the server sends it (83.3 means 83.3%).
export function percent(value) {
  if (value === null || value === undefined) return "–";
  return formatNumber(value / 100, { style: "percent", maximumFractionDigits: 1 });
}

export function seconds(value) {
  if (value === null || value === undefined) return "–";
  return clock(value);
}

function levelClass(levels, ...keys) {
  for (const key of keys) {
    const level = levels[key];
    if (level === "red") return "level-red";
    if (level === "amber") return "level-amber";
  }
  return null;
}

function levelWords(className) {
  if (className === "level-red") return t("alarm");
  if (className === "level-amber") return t("warning");
  return null;
}

// A figure cell; a threshold level adds its colour and, for screen readers, its word.
function figure(text, className, extra) {
  const words = levelWords(className);
  return el(
    "td",
    { class: ["number", className, extra].filter(Boolean).join(" ") },
    text,
    words ? el("span", { class: "visually-hidden" }, ` (${words})`) : null,
  );
}

// A clock that ticks from `since` (server time) on; tick() writes its text.
function ticking(since, className) {
  if (since === null || since === undefined) return el("span", {}, "–");
  return el("span", { class: ["ticking", className].filter(Boolean).join(" "), "data-since": String(since) });
}

export function tick(root, serverNow) {
  const now = serverNow();
  for (const element of root.querySelectorAll("[data-since]")) {
    element.textContent = clock(now - Number(element.dataset.since));
  }
}

export function renderQueueTable(queues) {
  if (!queues.length) return el("p", { class: "empty" }, t("No queues are configured."));
  const head = el(
    "tr",
    {},
    el("th", { scope: "col" }, t("Queue")),
    el("th", { scope: "col" }, t("Channel")),
    el("th", { scope: "col", class: "number" }, t("Waiting")),
    el("th", { scope: "col", class: "number" }, t("Longest wait")),
    el("th", { scope: "col", class: "number", title: t("Service level over the rolling window") }, t("SL now")),
    el("th", { scope: "col", class: "number", title: t("Service level today, and the target") }, t("SL today")),
    el("th", { scope: "col", class: "number", title: t("Abandon rate today (short abandons left out)") }, t("Abandon rate")),
    el("th", { scope: "col", class: "number" }, t("Answered")),
    el("th", { scope: "col", class: "number", title: t("Average speed of answer") }, t("ASA")),
    el("th", { scope: "col", class: "number" }, t("Ready")),
    el("th", { scope: "col", class: "number" }, t("Busy")),
    el("th", { scope: "col", class: "number" }, t("Wrap-up")),
    el("th", { scope: "col", class: "number" }, t("Not ready")),
  );
  const rows = queues.map((row) =>
    el(
      "tr",
      { "data-queue": row.queue, "data-channel": row.channel || "" },
      el(
        "th",
        { scope: "row", class: "queue-name" },
        row.queue,
        row.slTarget !== null
          ? el("span", { class: "queue-target small muted" }, t("target {percent} in {seconds} s", { percent: percent(row.slTarget), seconds: formatNumber(row.slSeconds) }))
          : null,
      ),
      el("td", {}, el("span", { class: `channel-chip channel-${row.channel || "all"}` }, channelWord(row.channel))),
      figure(formatNumber(row.waiting), levelClass(row.levels, "waiting"), "figure-waiting"),
      figure(seconds(row.longestWait), levelClass(row.levels, "longest_wait_seconds")),
      figure(percent(row.slWindow), null),
      figure(percent(row.slToday), levelClass(row.levels, "service_level_percent"), "figure-sl"),
      figure(percent(row.abandonRate), levelClass(row.levels, "abandon_rate_percent")),
      figure(formatNumber(row.answered), null, "figure-answered"),
      figure(seconds(row.asa), null),
      figure(formatNumber(row.agents.ready), null, "agents-ready"),
      figure(formatNumber(row.agents.busy), null, "agents-busy"),
      figure(formatNumber(row.agents.wrapUp), null, "agents-wrap-up"),
      figure(formatNumber(row.agents.notReady), null, "agents-not-ready"),
    ),
  );
  return el("table", { class: "table board-table queue-table" }, el("thead", {}, head), el("tbody", {}, rows));
}

function contactLine(contact) {
  const who = contact.customerName || (contact.customerId ? t("Customer #{id}", { id: contact.customerId }) : t("Unknown customer"));
  return el(
    "li",
    { class: `contact-line channel-${contact.channel}`, "data-contact-id": contact.contactId },
    el("span", { class: `channel-chip channel-${contact.channel}` }, channelShort(contact.channel)),
    el("span", { class: "contact-who" }, who),
    contact.phase === "wrap_up" ? el("span", { class: "muted small" }, t("wrap-up")) : null,
    contact.phase === "offered" ? el("span", { class: "muted small" }, t("ringing")) : null,
    ticking(contact.since, "contact-duration"),
  );
}

export function renderAgentTable(agents, { canAct, withTeams }) {
  if (!agents.length) return el("p", { class: "empty" }, t("No agents match."));
  const head = el(
    "tr",
    {},
    el("th", { scope: "col" }, t("Agent")),
    el("th", { scope: "col" }, t("State")),
    el("th", { scope: "col", class: "number" }, t("Time in state")),
    el("th", { scope: "col" }, t("Current contacts")),
    el("th", { scope: "col", class: "number" }, t("Handled today")),
    el("th", { scope: "col", class: "number", title: t("Average handle time today") }, t("AHT today")),
    withTeams ? el("th", { scope: "col" }, t("Team")) : null,
    canAct ? el("th", { scope: "col" }, el("span", { class: "visually-hidden" }, t("Actions"))) : null,
  );
  const rows = agents.map((agent) =>
    el(
      "tr",
      { "data-agent-id": agent.id, "data-state": agent.state, "data-activity": agent.activity, class: stateClass(agent.activity) },
      el(
        "th",
        { scope: "row", class: "agent-name" },
        el("span", { class: "state-stripe", "aria-hidden": "true" }),
        agent.name,
      ),
      el(
        "td",
        { class: "agent-state" },
        el("span", { class: `state-badge ${stateClass(agent.activity)}` }, stateLabel(agent.activity)),
        agent.reason ? el("span", { class: "agent-reason" }, reasonLabel(agent.reason)) : null,
      ),
      el("td", { class: "number" }, ticking(agent.stateSince, "state-time")),
      el("td", {}, agent.contacts.length ? el("ul", { class: "contact-lines" }, agent.contacts.map(contactLine)) : el("span", { class: "muted" }, "–")),
      el("td", { class: "number" }, formatNumber(agent.handledToday)),
      el("td", { class: "number" }, seconds(agent.ahtToday)),
      withTeams ? el("td", {}, agent.team || el("span", { class: "muted" }, "–")) : null,
      canAct
        ? el(
            "td",
            { class: "row-actions" },
            el(
              "button",
              {
                type: "button",
                class: "button button-small",
                "data-action": "agent-actions",
                "data-agent-id": agent.id,
                "data-focus-key": `agent:${agent.id}`,
                "aria-haspopup": "dialog",
                "aria-label": t("Actions for {name}", { name: agent.name }),
              },
              t("Actions"),
            ),
          )
        : null,
    ),
  );
  return el("table", { class: "table board-table agent-table" }, el("thead", {}, head), el("tbody", {}, rows));
}

export function renderWaitingTable(waiting) {
  if (!waiting.length) return el("p", { class: "empty" }, t("Nobody is waiting."));
  const head = el(
    "tr",
    {},
    el("th", { scope: "col" }, t("Customer")),
    el("th", { scope: "col" }, t("Queue")),
    el("th", { scope: "col" }, t("Channel")),
    el("th", { scope: "col", class: "number" }, t("Waiting")),
    el("th", { scope: "col", class: "number" }, t("Priority")),
    el("th", { scope: "col" }, el("span", { class: "visually-hidden" }, t("Actions"))),
  );
  const rows = waiting.map((contact) => {
    const who = contact.customerId ? t("Customer #{id}", { id: contact.customerId }) : t("Unknown customer");
    const button = (action, label, extra) =>
      el("button", {
        type: "button",
        class: "button button-small",
        "data-action": action,
        "data-contact-id": contact.contactId,
        "data-focus-key": `${action}:${contact.contactId}`,
        "aria-haspopup": "dialog",
        "aria-label": `${label}: ${who}`,
        ...extra,
      }, label);
    return el(
      "tr",
      { "data-contact-id": contact.contactId, "data-queue": contact.queue },
      el(
        "th",
        { scope: "row" },
        contact.customerId ? el("a", { href: `/customers/${encodeURIComponent(contact.customerId)}`, target: "_blank", rel: "noopener" }, who) : who,
        el("span", { class: "muted small contact-id" }, contact.contactId),
      ),
      el("td", {}, contact.queue),
      el("td", {}, el("span", { class: `channel-chip channel-${contact.channel}` }, channelShort(contact.channel))),
      el("td", { class: "number" }, ticking(contact.queuedAt)),
      el("td", { class: "number" }, formatNumber(contact.priority)),
      el(
        "td",
        { class: "row-actions" },
        button("move", t("Move")),
        button("priority", t("Priority")),
        button("explain", t("Why here?")),
      ),
    );
  });
  return el("table", { class: "table board-table waiting-table" }, el("thead", {}, head), el("tbody", {}, rows));
}
