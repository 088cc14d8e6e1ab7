// The supervisors' wallboard (/wallboard, and /wallboard?kiosk=1 for a wall screen):
// the entry module. The server computes the board once for every viewer and pushes it
// over the hub (topic "wallboard", message "board"); on a fresh connection the page
// also reads GET /api/v1/wallboard, so it never waits for the next change to show
// something. The tables, charts, staffing panel and action dialog are their own modules
// (wallboard_*.js); this one keeps the board, the filters and the clock.

import { api } from "./api.js";
import { $, el, replace } from "./dom.js";
import { formatDate, formatNumber, t } from "./i18n.js";
import { pageData } from "./page.js";
import { HubClient } from "./console_hub.js";
import { ActionDialog } from "./wallboard_actions.js";
import { timeChart } from "./wallboard_chart.js";
import { readBoard } from "./wallboard_model.js";
import { StaffingPanel } from "./wallboard_staffing.js";
import { percent, renderAgentTable, renderQueueTable, renderWaitingTable, tick } from "./wallboard_tables.js";
import { WaitingContacts } from "./wallboard_waiting.js";

const data = pageData();
const kiosk = Boolean(data.kiosk);
const canAct = Boolean(data.can_act);
const serverOffset = typeof data.server_time === "number" ? data.server_time - Date.now() / 1000 : 0;
const serverNow = () => Date.now() / 1000 + serverOffset;
const names = Object.fromEntries((data.agents || []).map((agent) => [String(agent.id), agent.name]));
const configuredQueues = Object.keys(data.queues || {}).sort();

let board = readBoard({}, names);
let received = false;
const waiting = new WaitingContacts();

const root = $("#wallboard");
const hubStatus = $("#hub-status");
const connectionNotice = $("#connection-notice");
const filterQueue = $("#filter-queue");
const filterTeam = $("#filter-team");
const staffing = new StaffingPanel($("#staffing"), { editable: canAct });
const dialog = canAct
  ? new ActionDialog({
      dialog: $("#action-dialog"),
      queues: configuredQueues,
      reasons: data.not_ready_reasons || [],
      names,
      myExtension: data.my_extension || null,
      board: () => board,
      waiting,
    })
  : null;

// ------------------------------------------------------------------ rendering
function keepFocus(draw) {
  const focused = document.activeElement;
  const key = focused && focused.dataset ? focused.dataset.focusKey : null;
  draw();
  if (key) {
    const again = root.querySelector(`[data-focus-key="${CSS.escape(key)}"]`);
    if (again) again.focus();
  }
}

function fillSelect(select, values, allLabel) {
  const current = select.value;
  const options = [el("option", { value: "" }, allLabel), ...values.map((value) => el("option", { value }, value))];
  replace(select, options);
  select.value = values.includes(current) ? current : "";
}

function updateFilters() {
  const queues = [...new Set([...configuredQueues, ...board.queues.map((row) => row.queue)])].sort();
  const teams = [...new Set(board.agents.map((agent) => agent.team).filter(Boolean))].sort();
  fillSelect(filterQueue, queues, t("All queues"));
  fillSelect(filterTeam, teams, t("All teams"));
  // Teams exist only where [wallboard] teams names them.
  filterTeam.hidden = !teams.length;
  $("label[for=filter-team]").hidden = !teams.length;
}

function visibleAgents() {
  const queue = filterQueue.value;
  const team = filterTeam.value;
  return board.agents
    .filter((agent) => (!queue || agent.queues.includes(queue)) && (!team || agent.team === team))
    .sort((a, b) => a.name.localeCompare(b.name));
}

function renderAgentSummary(agents) {
  const count = (test) => agents.filter(test).length;
  const parts = [
    ["state-ready", t("Ready"), count((a) => a.activity === "ready")],
    ["state-busy", t("Busy"), count((a) => a.activity === "busy")],
    ["state-wrap-up", t("Wrap-up"), count((a) => a.activity === "wrap_up")],
    ["state-not-ready", t("Not ready"), count((a) => a.activity === "not_ready")],
    ["state-offline", t("Offline"), count((a) => a.activity === "offline")],
  ];
  replace(
    $("#agent-summary"),
    parts.map(([className, label, value]) =>
      el("span", { class: `summary-chip ${className}` }, el("strong", {}, formatNumber(value)), ` ${label}`),
    ),
  );
}

function renderCharts() {
  const container = $("#charts");
  const queues = Object.keys(board.series).sort();
  const shown = filterQueue.value ? queues.filter((queue) => queue === filterQueue.value) : queues;
  if (!shown.length) {
    replace(container, el("p", { class: "empty" }, received ? t("No history yet.") : t("Waiting for the board…")));
    return;
  }
  const timeOnly = (at) => formatDate(at, { hour: "2-digit", minute: "2-digit" });
  replace(
    container,
    shown.map((queue) => {
      const points = board.series[queue];
      const last = points[points.length - 1] || {};
      const description = t("{queue}: {count} points; now {waiting} waiting, service level {sl}.", {
        queue,
        count: points.length,
        waiting: formatNumber(last.waiting ?? 0),
        sl: percent(last.serviceLevel),
      });
      return el(
        "figure",
        { class: "chart-figure", "data-queue": queue },
        el("figcaption", {}, queue),
        timeChart({
          title: t("Waiting and service level in {queue}", { queue }),
          description,
          points: points.map((point) => ({
            at: point.at,
            waiting: point.waiting,
            serviceLevel: point.serviceLevel === null ? null : point.serviceLevel / 100,
          })),
          series: [
            { key: "waiting", label: t("Waiting"), className: "series-waiting", axis: "left", area: true, min: 4 },
            { key: "serviceLevel", label: t("Service level"), className: "series-sl", axis: "right", max: 1 },
          ],
          format: {
            time: timeOnly,
            left: (value) => formatNumber(value, { maximumFractionDigits: 0 }),
            right: (value) => formatNumber(value, { style: "percent", maximumFractionDigits: 0 }),
          },
          width: kiosk ? 360 : 420,
          height: kiosk ? 160 : 150,
        }),
      );
    }),
  );
}

function renderWaiting() {
  const table = $("#waiting-table");
  if (!table) return;
  const shown = waiting
    .list()
    .filter((contact) => !filterQueue.value || contact.queue === filterQueue.value)
    .sort((a, b) => b.priority - a.priority || (a.queuedAt ?? 0) - (b.queuedAt ?? 0));
  replace(table, renderWaitingTable(shown));
  $("#waiting-count").textContent = t("{count} waiting", { count: formatNumber(shown.length) });
  tick(table, serverNow);
}

function render() {
  keepFocus(() => {
    const queues = filterQueue.value ? board.queues.filter((row) => row.queue === filterQueue.value) : board.queues;
    replace($("#queue-table"), received ? renderQueueTable(queues) : el("p", { class: "loading" }, t("Waiting for the board…")));
    const agents = visibleAgents();
    renderAgentSummary(agents);
    // The team column only where teams are configured ([wallboard] teams).
    const withTeams = board.agents.some((agent) => agent.team);
    replace($("#agent-table"), received ? renderAgentTable(agents, { canAct, withTeams }) : null);
    renderWaiting();
  });
  renderCharts();
  staffing.update(board.staffing);
  $("#board-updated").textContent = board.at ? t("Updated {time}", { time: formatDate(board.at, { timeStyle: "medium" }) }) : "";
  root.dataset.boardAt = board.at ? String(board.at) : "";
  tick(root, serverNow);
}

function showBoard(message) {
  const next = readBoard(message, names);
  // Boards are computed in order; one that arrives late (a REST answer overtaken by the
  // hub) does not replace a newer one.
  if (received && next.at !== null && board.at !== null && next.at < board.at) return;
  board = next;
  received = true;
  waiting.reconcile(board.queues, board.at);
  updateFilters();
  render();
}

// ------------------------------------------------------------------------ hub
function setStatus(status, detail) {
  hubStatus.dataset.status = status;
  hubStatus.dataset.resumed = detail && detail.resumed ? "true" : "false";
  hubStatus.textContent = {
    connecting: t("Connecting…"),
    live: t("Live"),
    disconnected: t("Reconnecting…"),
    ended: t("Disconnected"),
    error: t("Disconnected"),
  }[status] || status;
  if (status === "disconnected") {
    connectionNotice.textContent = t("The connection to the server was lost; reconnecting. The figures below may be out of date.");
    connectionNotice.hidden = false;
  } else if (status === "live") {
    connectionNotice.hidden = true;
  } else if (status === "ended") {
    connectionNotice.textContent = t("The server closed the connection. Reload the page to reconnect.");
    connectionNotice.hidden = false;
    // A wall screen has nobody to press reload: it tries again by itself.
    if (kiosk) setTimeout(() => window.location.reload(), 30_000);
  }
}

async function loadBoard() {
  try {
    showBoard(await api("GET", "/api/v1/wallboard"));
  } catch (error) {
    if (!received) {
      replace($("#queue-table"), el("p", { class: "alert" }, t("Could not load the wallboard: {message}", { message: error.message })));
    }
  }
}

// The board, and every queue's contacts for the waiting list (not in kiosk: nobody acts).
const topics = [data.topic, ...(canAct ? configuredQueues.map((queue) => `queue:${queue}`) : [])];
const hub = new HubClient({
  path: data.hub_path,
  topics,
  onStatus(status, detail) {
    setStatus(status, detail);
    // A fresh connection (not a resume): read the whole board now.
    if (status === "live" && !(detail && detail.resumed)) loadBoard();
  },
  onMessage(message) {
    if (message.type === "board") showBoard(message.board);
    else if (message.type === "contact" && waiting.apply(message)) keepFocus(renderWaiting);
  },
  onReply(message) {
    if (message.type === "refused") {
      connectionNotice.textContent = t("The server refused the wallboard: {message}", { message: message.message });
      connectionNotice.hidden = false;
    }
  },
});

// -------------------------------------------------------------------- wiring
filterQueue.addEventListener("change", render);
filterTeam.addEventListener("change", render);
if (dialog) {
  root.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-action]");
    if (!button || !root.contains(button)) return;
    const { action } = button.dataset;
    if (action === "agent-actions") dialog.agentActions(button.dataset.agentId);
    else if (action === "move") dialog.move(button.dataset.contactId);
    else if (action === "priority") dialog.priority(button.dataset.contactId);
    else if (action === "explain") dialog.explain(button.dataset.contactId);
  });
}

function everySecond() {
  tick(root, serverNow);
  const clockElement = $("#board-clock");
  if (clockElement) clockElement.textContent = formatDate(serverNow(), { timeStyle: "medium" });
}
setInterval(everySecond, 1000);
everySecond();
updateFilters();
render();
hub.start();
