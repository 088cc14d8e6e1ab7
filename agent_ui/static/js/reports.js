// The reports page (/reports): contacts offered, answered and abandoned, service level,
// ASA, AHT, abandon rate, FCR, CSAT and (per agent) not-ready time by reason, per queue,
// agent or channel, per day or hour, over a chosen period. The server computes every
// figure (GET /api/v1/reports/contacts, docs/metrics.md); this page draws the totals
// per group, the rows per period, and a bar chart of the contacts per period, and links
// the same query as CSV. The query lives in the address, so a report can be bookmarked.

import { api, query } from "./api.js";
import { $, el, replace } from "./dom.js";
import { formatNumber, t } from "./i18n.js";
import { pageData } from "./page.js";
import { reasonLabel } from "./console_state.js";
import { barChart } from "./wallboard_chart.js";
import { channelWord } from "./wallboard_model.js";
import { percent, seconds } from "./wallboard_tables.js";

const data = pageData();
const form = $("#report-form");
const fields = {
  from: $("#report-from"),
  to: $("#report-to"),
  group_by: $("#report-group"),
  interval: $("#report-interval"),
};
const summary = $("#report-summary");
const csvLink = $("#report-csv");
let asked = 0;

// ---------------------------------------------------------------- the period
function shiftDay(day, days) {
  const date = new Date(`${day}T00:00:00Z`);
  date.setUTCDate(date.getUTCDate() + days);
  return date.toISOString().slice(0, 10);
}

const PRESETS = {
  today: () => [data.today, data.today],
  yesterday: () => [shiftDay(data.today, -1), shiftDay(data.today, -1)],
  week: () => [shiftDay(data.today, -6), data.today],
  month: () => [shiftDay(data.today, -29), data.today],
};

function currentQuery() {
  return {
    from: fields.from.value,
    to: fields.to.value,
    group_by: fields.group_by.value,
    interval: fields.interval.value,
  };
}

// ------------------------------------------------------------------ drawing
function groupLabel(row, groupBy) {
  if (groupBy === "channel") return channelWord(row.group);
  if (groupBy === "agent") return row.name || (row.group ? t("Agent #{id}", { id: row.group }) : t("No agent"));
  return row.group || "–";
}

function periodLabel(period) {
  if (!period) return t("Whole period");
  return period.replace("T", " ");
}

function csat(row) {
  if (row.csat_average === null || row.csat_average === undefined) return "–";
  return t("{score} ({count})", {
    score: formatNumber(row.csat_average, { minimumFractionDigits: 1, maximumFractionDigits: 1 }),
    count: formatNumber(row.csat_responses || 0),
  });
}

function notReadyReasons(rows) {
  const reasons = new Set();
  for (const row of rows) for (const reason of Object.keys(row.not_ready_seconds || {})) reasons.add(reason);
  return [...reasons].sort();
}

function columns(groupBy, reasons) {
  const list = [
    { head: t("Offered"), cell: (row) => formatNumber(row.offered) },
    { head: t("Answered"), cell: (row) => formatNumber(row.answered) },
    { head: t("Abandoned"), cell: (row) => formatNumber(row.abandoned) },
    { head: t("Service level"), cell: (row) => percent(row.service_level_percent) },
    { head: t("ASA"), title: t("Average speed of answer"), cell: (row) => seconds(row.asa_seconds) },
    { head: t("AHT"), title: t("Average handle time"), cell: (row) => seconds(row.aht_seconds) },
    { head: t("Abandon rate"), cell: (row) => percent(row.abandon_rate_percent) },
    { head: t("FCR"), title: t("First-contact resolution"), cell: (row) => percent(row.fcr_percent) },
    { head: t("CSAT"), title: t("Average satisfaction score (answers)"), cell: csat },
  ];
  if (groupBy === "agent") {
    for (const reason of reasons) {
      list.push({
        head: t("Not ready: {reason}", { reason: reasonLabel(reason) }),
        cell: (row) => seconds((row.not_ready_seconds || {})[reason] ?? 0),
      });
    }
  }
  return list;
}

function table(rows, { groupBy, reasons, withPeriod, caption }) {
  const cols = columns(groupBy, reasons);
  return el(
    "table",
    { class: "table report-table" },
    el("caption", { class: "visually-hidden" }, caption),
    el(
      "thead",
      {},
      el(
        "tr",
        {},
        withPeriod ? el("th", { scope: "col" }, t("Period")) : null,
        el("th", { scope: "col" }, { queue: t("Queue"), agent: t("Agent"), channel: t("Channel") }[groupBy]),
        cols.map((col) => el("th", { scope: "col", class: "number", title: col.title || null }, col.head)),
      ),
    ),
    el(
      "tbody",
      {},
      rows.map((row) =>
        el(
          "tr",
          { "data-group": row.group ?? "", "data-period": row.period ?? "" },
          withPeriod ? el("td", { class: "nowrap" }, periodLabel(row.period)) : null,
          el("th", { scope: "row" }, groupLabel(row, groupBy)),
          cols.map((col) => el("td", { class: "number" }, col.cell(row))),
        ),
      ),
    ),
  );
}

function chart(rows, groupBy) {
  // Contacts per period, every group together: offered, answered, abandoned.
  const periods = [...new Set(rows.map((row) => row.period))].sort();
  // Hours of a single day are labelled by the hour alone.
  const oneDay = new Set(periods.map((period) => period.slice(0, 10))).size === 1;
  const short = (period) => (oneDay && period.length > 10 ? period.slice(11) : periodLabel(period));
  const sum = (period, key) => rows.filter((row) => row.period === period).reduce((total, row) => total + (Number(row[key]) || 0), 0);
  const series = [
    { label: t("Offered"), className: "series-offered", values: periods.map((period) => sum(period, "offered")) },
    { label: t("Answered"), className: "series-answered", values: periods.map((period) => sum(period, "answered")) },
    { label: t("Abandoned"), className: "series-abandoned", values: periods.map((period) => sum(period, "abandoned")) },
  ];
  const total = (values) => values.reduce((a, b) => a + b, 0);
  return el(
    "figure",
    { class: "chart-figure" },
    el(
      "figcaption",
      { class: "chart-key small" },
      el("span", { class: "key key-offered" }, t("Offered")),
      el("span", { class: "key key-answered" }, t("Answered")),
      el("span", { class: "key key-abandoned" }, t("Abandoned")),
    ),
    barChart({
      title: t("Contacts per period, all groups"),
      description: t("{periods} periods: {offered} offered, {answered} answered, {abandoned} abandoned.", {
        periods: formatNumber(periods.length),
        offered: formatNumber(total(series[0].values)),
        answered: formatNumber(total(series[1].values)),
        abandoned: formatNumber(total(series[2].values)),
      }),
      categories: periods.map(short),
      series,
      format: (value) => formatNumber(value, { maximumFractionDigits: 0 }),
    }),
  );
}

function show(report, params) {
  const rows = report.rows || [];
  const totals = report.totals || [];
  const reasons = notReadyReasons([...rows, ...totals]);
  const groupBy = params.group_by;
  if (!rows.length) {
    replace($("#report-chart"));
    replace($("#report-totals"), el("p", { class: "empty" }, t("No contacts in this period.")));
    replace($("#report-rows"));
    summary.textContent = "";
    return;
  }
  replace($("#report-chart"), chart(rows, groupBy));
  replace(
    $("#report-totals"),
    el("h3", {}, t("Whole period")),
    table(totals, { groupBy, reasons, withPeriod: false, caption: t("Whole period") }),
  );
  replace(
    $("#report-rows"),
    el("h3", {}, params.interval === "hour" ? t("Per hour") : t("Per day")),
    table(rows, { groupBy, reasons, withPeriod: true, caption: params.interval === "hour" ? t("Per hour") : t("Per day") }),
  );
  summary.textContent = t("{from} to {to}: {count} rows", { from: params.from, to: params.to, count: formatNumber(rows.length) });
}

async function load() {
  const params = currentQuery();
  if (!params.from || !params.to) return;
  if (params.to < params.from) {
    replace($("#report-totals"), el("p", { class: "alert", role: "alert" }, t("The end of the period is before its start.")));
    return;
  }
  history.replaceState(null, "", `/reports${query(params)}`);
  csvLink.href = `${data.reports_path}${query({ ...params, format: "csv" })}`;
  csvLink.setAttribute("download", `contacts-${params.group_by}-${params.from}-${params.to}.csv`);
  csvLink.hidden = false;
  asked += 1;
  const mine = asked;
  summary.textContent = t("Loading…");
  try {
    const report = await api("GET", `${data.reports_path}${query(params)}`);
    if (mine === asked) show(report, params);
  } catch (error) {
    if (mine !== asked) return;
    summary.textContent = "";
    replace($("#report-chart"));
    replace($("#report-rows"));
    replace($("#report-totals"), el("p", { class: "alert", role: "alert" }, t("Could not load the report: {message}", { message: error.message })));
  }
}

// ------------------------------------------------------------------- wiring
const initial = new URLSearchParams(window.location.search);
for (const [name, input] of Object.entries(fields)) {
  const value = initial.get(name);
  if (value) input.value = value;
}
form.addEventListener("submit", (event) => {
  event.preventDefault();
  load();
});
for (const button of document.querySelectorAll("[data-preset]")) {
  button.addEventListener("click", () => {
    const [from, to] = PRESETS[button.dataset.preset]();
    fields.from.value = from;
    fields.to.value = to;
    load();
  });
}
load();
