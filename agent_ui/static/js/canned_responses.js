// The canned responses page (/canned-responses, supervisors and admins): the responses
// of a queue (and those for every queue), searchable; add, edit, delete through
// /api/v1/canned-responses. Every text is shown as text.

import { api } from "./api.js";
import { $, el, replace, toast } from "./dom.js";
import { t } from "./i18n.js";
import { pageData } from "./page.js";

const data = pageData();
const queues = data.queues || [];
const queueSelect = $("#canned-queue");
const search = $("#canned-search");
const rows = $("#canned-rows");
const empty = $("#canned-empty");
const form = $("#canned-form");
const formQueue = $("#canned-form-queue");
const formTitle = $("#canned-form-title");
const saveButton = $("#canned-save");
const cancelButton = $("#canned-cancel");
const formError = $("#canned-error");
let editing = null;
let items = [];

const EVERY_QUEUE = "";
const queueName = (queue) => (queue ? queue : t("Every queue"));

replace(queueSelect, el("option", { value: "" }, t("All queues")), queues.map((name) => el("option", { value: name }, name)));
replace(formQueue, el("option", { value: EVERY_QUEUE }, t("Every queue")), queues.map((name) => el("option", { value: name }, name)));

async function load() {
  const params = new URLSearchParams();
  if (queueSelect.value) params.set("queue", queueSelect.value);
  if (search.value.trim()) params.set("q", search.value.trim());
  try {
    const answer = await api("GET", `/api/v1/canned-responses?${params}`);
    items = (answer && answer.items) || [];
  } catch (error) {
    toast(t("Could not load the canned responses: {message}", { message: error.message }), "error");
    items = [];
  }
  draw();
}

function draw() {
  empty.hidden = items.length > 0;
  replace(rows, items.map((item) => el("tr", { "data-id": item.id },
    el("td", {}, el("code", {}, `/${item.shortcut}`)),
    el("td", {}, item.title),
    el("td", { class: "canned-body" }, item.text),
    el("td", {}, queueName(item.queue)),
    el("td", { class: "actions" },
      el("button", { type: "button", class: "button button-small", "data-action": "edit", onclick: () => edit(item) }, t("Edit")), " ",
      el("button", { type: "button", class: "button button-small button-danger", "data-action": "delete", onclick: () => remove(item) }, t("Delete"))))));
}

function edit(item) {
  editing = item;
  form.elements.shortcut.value = item.shortcut;
  form.elements.title.value = item.title;
  form.elements.text.value = item.text;
  formQueue.value = item.queue || EVERY_QUEUE;
  replace(formTitle, t("Edit /{shortcut}", { shortcut: item.shortcut }));
  replace(saveButton, t("Save"));
  cancelButton.hidden = false;
  form.elements.shortcut.focus();
}

function reset() {
  editing = null;
  form.reset();
  formQueue.value = queueSelect.value || EVERY_QUEUE;
  replace(formTitle, t("Add a canned response"));
  replace(saveButton, t("Add"));
  cancelButton.hidden = true;
  replace(formError);
}

async function remove(item) {
  if (!window.confirm(t("Delete the canned response /{shortcut}?", { shortcut: item.shortcut }))) return;
  try {
    await api("DELETE", `/api/v1/canned-responses/${item.id}`);
    toast(t("Deleted."));
    if (editing && editing.id === item.id) reset();
    await load();
  } catch (error) {
    toast(t("Could not delete: {message}", { message: error.message }), "error");
  }
}

form.addEventListener("submit", async (event) => {
  event.preventDefault();
  if (!form.reportValidity()) return;
  const body = {
    shortcut: form.elements.shortcut.value.trim(),
    title: form.elements.title.value.trim(),
    text: form.elements.text.value,
    queue: formQueue.value || null,
  };
  saveButton.disabled = true;
  try {
    if (editing) await api("PATCH", `/api/v1/canned-responses/${editing.id}`, body);
    else await api("POST", "/api/v1/canned-responses", body);
    toast(editing ? t("Saved.") : t("Added."));
    reset();
    await load();
  } catch (error) {
    replace(formError, t("Could not save: {message}", { message: error.message }));
  } finally {
    saveButton.disabled = false;
  }
});
cancelButton.addEventListener("click", reset);
queueSelect.addEventListener("change", () => {
  reset();
  load();
});
let searchTimer = null;
search.addEventListener("input", () => {
  clearTimeout(searchTimer);
  searchTimer = setTimeout(load, 200);
});

reset();
load();
