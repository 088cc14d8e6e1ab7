// The customer's timeline: every call, chat and email, newest first, with notes.
//
// renderTimelineItem(item, options) draws one interaction of the API's shape (the
// screen-pop's `open_interactions`/`interactions`, or a history page's `items`).
// mountTimeline(container, {customerId, screenPop, people}) shows the screen-pop's
// interactions and pages further through GET /api/v1/customers/{id}/history without
// reloading, optionally filtered by channel. Data is only ever set as text.

import { api, query } from "./api.js";
import { el, replace } from "./dom.js";
import { formatDate, formatDuration, t } from "./i18n.js";
import { channelLabel, channelName, personName, statusLabel } from "./labels.js";

const ICONS = { voice: "☎", chat: "✎", email: "@" };
export const CHANNELS = ["voice", "chat", "email"];

function recordings(item) {
  const refs = (item.external_ids && item.external_ids.recordings) || [];
  return Array.isArray(refs) ? refs : [];
}

export function renderTimelineItem(item, options = {}) {
  const people = options.people || {};
  const meta = [];
  meta.push(el("time", { datetime: new Date(item.started_at * 1000).toISOString() }, formatDate(item.started_at)));
  if (item.agent_id !== null && item.agent_id !== undefined) meta.push(personName(people, item.agent_id));
  if (item.queue) meta.push(t("queue {queue}", { queue: item.queue }));
  if (item.channel === "voice" && item.talk_seconds !== null && item.talk_seconds !== undefined) {
    meta.push(t("talked {duration}", { duration: formatDuration(item.talk_seconds) }));
  }
  if (item.wait_seconds) meta.push(t("waited {duration}", { duration: formatDuration(item.wait_seconds) }));

  const badges = [];
  if (item.status === "open") badges.push(el("span", { class: "badge badge-success" }, statusLabel("open")));

  if (item.disposition) badges.push(el("span", { class: "badge", "data-field": "disposition" }, item.disposition));
  if (item.status !== "open") {
    badges.push(
      item.resolved
        ? el("span", { class: "badge badge-success" }, t("Resolved"))
        : el("span", { class: "badge" }, t("Not resolved")),
    );
  }
  if (item.repeat_contact) badges.push(el("span", { class: "badge badge-alert" }, t("Repeat contact")));
  if (item.rating) badges.push(el("span", { class: "badge badge-rating", "data-field": "rating" }, t("Rated {rating}/5", { rating: item.rating })));

  const body = [];
  if (item.summary) body.push(el("p", { class: "timeline-summary" }, item.summary));
  if (item.notes) body.push(el("div", { class: "timeline-note", "data-field": "wrap-up" }, item.notes));
  if (item.rating_comment) body.push(el("p", { class: "timeline-rating", "data-field": "rating-comment" }, t("Customer's comment: {comment}", { comment: item.rating_comment })));
  for (const message of item.messages || []) {
    const who = message.direction === "outbound" ? t("Reply") : message.sender || t("Customer");
    body.push(
      el(
        "blockquote",
        { class: "timeline-snippet" },
        el("span", { class: "snippet-who" }, who, message.subject ? ` · ${message.subject}` : ""),
        message.snippet || "",
      ),
    );
  }
  for (const note of item.note_items || []) {
    body.push(
      el(
        "div",
        { class: "timeline-note" },
        el("span", { class: "snippet-who" }, t("Note by {author}, {when}", { author: note.author || "", when: formatDate(note.created_at) })),
        note.body,
      ),
    );
  }
  const files = recordings(item);
  if (files.length) {
    body.push(
      el(
        "p",
        { class: "small" },
        t("Recording:"),
        " ",
        files.map((file, index) => [
          index ? ", " : "",
          // The file's name is what tells recordings apart; the server's path is a tooltip.
          options.recordingUrl
            ? el("a", { href: options.recordingUrl(file), class: "recording-link", title: file }, file.split("/").pop())
            : el("span", { class: "mono recording-file", title: file }, file.split("/").pop()),
        ]),
      ),
    );
  }

  return el(
    "li",
    { class: `timeline-item channel-${item.channel}`, "data-interaction-id": item.id, "data-channel": item.channel },
    el("span", { class: "timeline-icon", "aria-hidden": "true" }, ICONS[item.channel] || "•"),
    el(
      "div",
      { class: "timeline-head" },
      el("span", { class: "timeline-title" }, channelLabel(item.channel, item.direction), item.subject ? ` · ${item.subject}` : ""),
      badges,
    ),
    el("div", { class: "timeline-meta" }, meta.map((part, index) => [index ? " · " : "", part])),
    body.length ? el("div", { class: "timeline-body" }, body) : null,
  );
}

// The interactions a screen-pop carries: open ones first, then the history.
export function timelineItems(screenPop) {
  return [...(screenPop.open_interactions || []), ...(screenPop.interactions || [])];
}

export function renderTimeline(items, options = {}) {
  if (!items.length) return el("p", { class: "empty" }, t("No interactions yet."));
  return el("ol", { class: "timeline" }, items.map((item) => renderTimelineItem(item, options)));
}

// A channel filter (All / Calls / Chats / Emails) as toggle buttons.
function channelFilter(current, onChange) {
  const choices = [["", t("All")], ...CHANNELS.map((c) => [c, channelName(c)])];
  return el(
    "div",
    { class: "segmented", role: "group", "aria-label": t("Filter by channel") },
    choices.map(([value, label]) =>
      el("button", { type: "button", "aria-pressed": String(value === current), "data-channel": value || "all", onclick: () => onChange(value) }, label),
    ),
  );
}

export function mountTimeline(container, { customerId, screenPop, people, pageSize = 20, recordingUrl } = {}) {
  const state = { channel: "", items: [], cursor: null, loading: false, error: null };
  const options = { people, recordingUrl };
  const filterSlot = el("div", { class: "timeline-filter" });
  const listSlot = el("div", { class: "timeline-list", "aria-live": "polite" });
  const moreSlot = el("div", { class: "timeline-more" });
  replace(container, filterSlot, listSlot, moreSlot);

  function draw() {
    replace(filterSlot, channelFilter(state.channel, setChannel));
    replace(listSlot, renderTimeline(state.items, options));
    const parts = [];
    if (state.error) parts.push(el("p", { class: "alert", role: "alert" }, state.error));
    if (state.cursor) {
      parts.push(
        el("button", { type: "button", class: "button", disabled: state.loading, "data-action": "more", onclick: loadMore },
          state.loading ? t("Loading…") : t("Show older")),
      );
    }
    replace(moreSlot, parts);
  }

  async function fetchPage(cursor) {
    state.loading = true;
    state.error = null;
    draw();
    try {
      const page = await api("GET", `/api/v1/customers/${customerId}/history${query({ limit: pageSize, channel: state.channel, cursor })}`);
      if (cursor) {
        // An open interaction shown first may come again in an older page: once only.
        const seen = new Set(state.items.map((item) => item.id));
        state.items = [...state.items, ...page.items.filter((item) => !seen.has(item.id))];
      } else {
        state.items = page.items;
      }
      state.cursor = page.next_cursor;
    } catch (error) {
      state.error = t("Could not load the history: {message}", { message: error.message });
    } finally {
      state.loading = false;
      draw();
    }
  }

  function loadMore() {
    if (!state.loading && state.cursor) return fetchPage(state.cursor);
    return Promise.resolve();
  }

  function setChannel(channel) {
    if (channel === state.channel || state.loading) return Promise.resolve();
    state.channel = channel;
    state.items = [];
    state.cursor = null;
    return fetchPage(null);
  }

  function refresh() {
    return fetchPage(null);
  }

  if (screenPop) {
    state.items = timelineItems(screenPop);
    state.cursor = screenPop.history_cursor || null;
    draw();
  } else {
    refresh();
  }
  return { setChannel, loadMore, refresh };
}
