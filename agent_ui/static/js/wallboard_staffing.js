// The staffing what-if: for each voice queue, the agents needed to meet its
// service-level target at the live arrival rate and handle time (the server's Erlang C,
// or Erlang A where it has abandon data), beside the agents it has now. A supervisor
// edits the arrival rate, handle time or target and gets the server's answer at once
// (POST /api/v1/wallboard/staffing); "Back to live" drops the edits. While a queue has
// edits, board updates change only its "agents now", not the figures being tried.

import { api } from "./api.js";
import { el, replace } from "./dom.js";
import { formatNumber, t } from "./i18n.js";

const ASK_DELAY_MS = 250;

const num = (value) => (value === null || value === undefined || value === "" || Number.isNaN(Number(value)) ? null : Number(value));

// The staffing of one queue (the board's StaffingView, or the what-if's answer).
export function readStaffing(queue, row) {
  return {
    queue,
    channel: row.channel || "voice",
    arrivalPerHour: num(row.arrival_rate_per_hour),
    ahtSeconds: num(row.aht_seconds),
    targetPercent: num(row.target_service_level),
    targetSeconds: num(row.target_seconds),
    needed: num(row.agents_needed),
    now: num(row.agents_now),
    slNow: num(row.service_level_now_percent),
    model: row.model || null,
    table: row.table || null,
  };
}

function percentText(value) {
  return value === null || value === undefined ? "–" : formatNumber(value / 100, { style: "percent", maximumFractionDigits: 1 });
}

function modelWords(model) {
  if (!model) return "";
  return { "erlang-c": t("Erlang C"), "erlang-a": t("Erlang A") }[model] || model;
}

export class StaffingPanel {
  constructor(root, { editable }) {
    this.root = root;
    this.editable = editable;
    this.rows = new Map(); // queue -> {elements, live, edits, timer, request}
  }

  update(staffing) {
    const queues = Object.keys(staffing).sort();
    if (queues.join("\n") !== [...this.rows.keys()].join("\n")) this.build(queues);
    for (const queue of queues) {
      const row = this.rows.get(queue);
      row.live = readStaffing(queue, staffing[queue]);
      if (row.edits) {
        row.elements.now.textContent = formatNumber(row.live.now);
        this.colour(row, row.shown);
      } else {
        this.show(row, row.live, { fillInputs: true });
      }
    }
  }

  build(queues) {
    this.rows.clear();
    if (!queues.length) {
      replace(this.root, el("p", { class: "empty" }, t("No voice queue to staff.")));
      return;
    }
    replace(this.root, queues.map((queue) => this.buildRow(queue)));
  }

  buildRow(queue) {
    const id = (name) => `staffing-${name}-${queue.replace(/[^A-Za-z0-9_-]/g, "_")}`;
    const field = (name, label, attributes) => {
      const input = el("input", { type: "number", id: id(name), inputmode: "decimal", readonly: !this.editable, ...attributes });
      return { input, wrap: el("div", { class: "staffing-field" }, el("label", { for: id(name), class: "small" }, label), input) };
    };
    const arrival = field("arrival", t("Arrivals per hour"), { min: "0", step: "1", "data-field": "arrival" });
    const aht = field("aht", t("Handle time (s)"), { min: "1", step: "1", "data-field": "aht" });
    const target = field("target", t("Target (%)"), { min: "1", max: "99.9", step: "1", "data-field": "target" });
    const threshold = field("threshold", t("Within (s)"), { min: "1", step: "1", "data-field": "threshold" });
    const needed = el("strong", { class: "staffing-needed", "data-field": "needed" }, "–");
    const now = el("strong", { class: "staffing-now", "data-field": "now" }, "–");
    const note = el("p", { class: "staffing-note small muted", "aria-live": "polite" });
    const table = el("div", { class: "staffing-table" });
    const reset = this.editable
      ? el("button", { type: "button", class: "button button-small button-quiet", hidden: true, "data-action": "staffing-reset" }, t("Back to live"))
      : null;
    const section = el(
      "section",
      { class: "staffing-queue", "data-queue": queue, "aria-label": t("Staffing of {queue}", { queue }) },
      el(
        "div",
        { class: "staffing-head" },
        el("h3", {}, queue),
        el(
          "div",
          { class: "staffing-answer" },
          el("span", { class: "staffing-figure" }, el("span", { class: "small muted" }, t("Needed")), needed),
          el("span", { class: "staffing-figure" }, el("span", { class: "small muted" }, t("Now")), now),
        ),
      ),
      el("div", { class: "staffing-fields" }, arrival.wrap, aht.wrap, target.wrap, threshold.wrap),
      el("div", { class: "staffing-foot" }, note, reset),
      table,
    );
    const row = {
      queue,
      section,
      elements: { arrival: arrival.input, aht: aht.input, target: target.input, threshold: threshold.input, needed, now, note, reset, table },
      live: null,
      shown: null,
      edits: false,
      timer: null,
      asked: 0,
    };
    if (this.editable) {
      for (const input of [arrival.input, aht.input, target.input, threshold.input]) {
        input.addEventListener("input", () => this.edited(row));
      }
      reset.addEventListener("click", () => {
        row.edits = false;
        reset.hidden = true;
        this.show(row, row.live, { fillInputs: true });
      });
    }
    this.rows.set(queue, row);
    return section;
  }

  show(row, figures, { fillInputs }) {
    const { elements } = row;
    row.shown = figures;
    if (fillInputs) {
      elements.arrival.value = figures.arrivalPerHour === null ? "" : String(Math.round(figures.arrivalPerHour * 10) / 10);
      elements.aht.value = figures.ahtSeconds === null ? "" : String(Math.round(figures.ahtSeconds));
      elements.target.value = figures.targetPercent === null ? "" : String(Math.round(figures.targetPercent));
      elements.threshold.value = figures.targetSeconds === null ? "" : String(Math.round(figures.targetSeconds));
    }
    elements.needed.textContent = figures.needed === null ? "–" : formatNumber(figures.needed);
    elements.now.textContent = formatNumber(row.live ? row.live.now : figures.now) || "–";
    const parts = [];
    if (figures.slNow !== null) {
      parts.push(t("With the agents now: service level {sl}", { sl: percentText(figures.slNow) }));
    } else if (figures.needed === null) {
      parts.push(t("No load or no handle time yet: nothing to compute."));
    }
    if (figures.model) parts.push(modelWords(figures.model));
    if (row.edits) parts.push(t("What-if: not the live figures"));
    elements.note.textContent = parts.join(" · ");
    replace(elements.table, figures.table && figures.table.length ? this.renderTable(figures) : null);
    this.colour(row, figures);
  }

  // The what-if's answer for each number of agents around the one needed.
  renderTable(figures) {
    return el(
      "table",
      { class: "table staffing-options" },
      el(
        "thead",
        {},
        el(
          "tr",
          {},
          el("th", { scope: "col", class: "number" }, t("Agents")),
          el("th", { scope: "col", class: "number" }, t("Service level")),
          el("th", { scope: "col", class: "number" }, t("ASA")),
          el("th", { scope: "col", class: "number" }, t("Occupancy")),
        ),
      ),
      el(
        "tbody",
        {},
        figures.table.map((option) =>
          el(
            "tr",
            { class: option.agents === figures.needed ? "is-needed" : "" },
            el("td", { class: "number" }, formatNumber(option.agents)),
            el("td", { class: "number" }, percentText(option.service_level_percent)),
            el("td", { class: "number" }, option.asa_seconds === null || option.asa_seconds === undefined ? "–" : t("{seconds} s", { seconds: formatNumber(option.asa_seconds, { maximumFractionDigits: 1 }) })),
            el("td", { class: "number" }, percentText(option.occupancy_percent)),
          ),
        ),
      ),
    );
  }

  colour(row, figures) {
    const now = row.live ? row.live.now : null;
    const short = figures && figures.needed !== null && now !== null && now < figures.needed;
    row.section.classList.toggle("staffing-short", Boolean(short));
  }

  edited(row) {
    row.edits = true;
    row.elements.reset.hidden = false;
    clearTimeout(row.timer);
    row.timer = setTimeout(() => this.ask(row), ASK_DELAY_MS);
  }

  async ask(row) {
    const { elements } = row;
    const body = {
      queue: row.queue,
      channel: row.live ? row.live.channel : "voice",
      arrival_rate_per_hour: num(elements.arrival.value),
      aht_seconds: num(elements.aht.value),
      target_service_level: num(elements.target.value),
      target_seconds: num(elements.threshold.value),
    };
    for (const [key, value] of Object.entries(body)) if (value === null) delete body[key];
    row.asked += 1;
    const asked = row.asked;
    try {
      const answer = await api("POST", "/api/v1/wallboard/staffing", body);
      if (asked !== row.asked) return; // a newer question is on its way
      this.show(row, readStaffing(row.queue, answer), { fillInputs: false });
    } catch (error) {
      if (asked !== row.asked) return;
      elements.needed.textContent = "–";
      elements.note.textContent = t("Could not work out the staffing: {message}", { message: error.message });
    }
  }
}
