// The board as the page keeps it, read from the server's `board` (the hub's message on
// topic `wallboard`, or GET /api/v1/wallboard: the same object). The server computes
// every figure (docs/metrics.md); this module only gives it one shape for the tables,
// charts and staffing panel, and words for its codes.

import { t } from "./i18n.js";
import { reasonLabel } from "./console_state.js";

export { reasonLabel };

export const num = (value) => (value === null || value === undefined || Number.isNaN(Number(value)) ? null : Number(value));

function readQueue(row) {
  const agents = row.agents || {};
  const target = row.target || {};
  return {
    queue: row.queue,
    channel: row.channel || null,
    waiting: num(row.waiting) ?? 0,
    longestWait: num(row.longest_wait_seconds),
    // Percentages as the server sends them (83.3 means 83.3%).
    slWindow: num(row.service_level_window_percent),
    slToday: num(row.service_level_percent),
    slTarget: num(target.service_level_percent),
    slSeconds: num(target.service_level_seconds),
    abandonRate: num(row.abandon_rate_percent),
    offered: num(row.offered) ?? 0,
    answered: num(row.answered) ?? 0,
    abandoned: num(row.abandoned) ?? 0,
    asa: num(row.asa_seconds),
    aht: num(row.aht_seconds),
    agents: {
      ready: num(agents.ready) ?? 0,
      busy: num(agents.busy) ?? 0,
      wrapUp: num(agents.wrap_up) ?? 0,
      notReady: num(agents.not_ready) ?? 0,
    },
    // The colour the server decided per figure: "ok" | "amber" | "red".
    levels: row.levels || {},
  };
}

// Times in state arrive as seconds at the board's time; the page keeps the moment they
// started (server time) so they tick on between boards.
function readAgent(row, names, boardAt) {
  const id = String(row.agent_id ?? row.user_id);
  const since = (seconds) => (boardAt === null || num(seconds) === null ? null : boardAt - Number(seconds));
  return {
    id,
    name: row.name || names[id] || t("Agent #{id}", { id }),
    state: row.state || "offline",
    // What the agent does: ready (idle), busy, wrap_up, not_ready, offline.
    activity: row.activity || row.state || "offline",
    reason: row.reason || null,
    stateSince: since(row.state_seconds),
    contacts: (row.contacts || []).map((contact) => ({
      contactId: contact.contact_id,
      channel: contact.channel,
      queue: contact.queue || "",
      customerId: contact.customer_id ?? null,
      customerName: contact.customer_name || null,
      phase: contact.state || "connected",
      since: since(contact.seconds),
    })),
    handledToday: num(row.handled_today) ?? 0,
    ahtToday: num(row.aht_today_seconds),
    team: row.team || null,
    queues: row.queues || [],
  };
}

export function readBoard(message, names) {
  const at = num(message.at);
  const series = {};
  for (const item of message.series || []) {
    series[item.queue] = (item.points || []).map((point) => ({
      at: num(point.at),
      waiting: num(point.waiting),
      serviceLevel: num(point.service_level_percent),
    }));
  }
  const staffing = {};
  for (const row of message.staffing || []) staffing[row.queue] = row;
  return {
    at,
    version: num(message.version),
    windowSeconds: num(message.window_seconds),
    queues: (message.queues || []).map(readQueue),
    agents: (message.agents || []).map((row) => readAgent(row, names, at)),
    series,
    staffing,
  };
}

export function stateLabel(activity) {
  return (
    { ready: t("Ready"), busy: t("Busy"), wrap_up: t("Wrap-up"), not_ready: t("Not ready"), offline: t("Offline") }[activity] ||
    activity || ""
  );
}

// The CSS class of an agent's state colour.
export function stateClass(activity) {
  return (
    { ready: "state-ready", busy: "state-busy", wrap_up: "state-wrap-up", not_ready: "state-not-ready" }[activity] ||
    "state-offline"
  );
}

export function channelShort(channel) {
  return { voice: t("Call"), chat: t("Chat"), email: t("Email") }[channel] || channel || "";
}

export function channelWord(channel) {
  return { voice: t("Voice"), chat: t("Chat"), email: t("Email") }[channel] || channel || t("All channels");
}
