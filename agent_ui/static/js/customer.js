// The customer profile page: card, timeline, notes, identities, orders, edit,
// merges (supervisors) and the audit trail (supervisors).

import { api, query } from "./api.js";
import { $, el, replace, toast } from "./dom.js";
import { formatDate, formatMoney, t } from "./i18n.js";
import { pageData } from "./page.js";
import { renderCustomerCard } from "./customer_card.js";
import { mountTimeline } from "./timeline.js";
import { CONSENT_KEYS, STAGES, auditActionLabel, consentLabel, identityKindLabel, personName, stageLabel } from "./labels.js";

const data = pageData();
const customerId = data.customer_id;
const people = data.people || {};
let screenPop = data.screen_pop;
const me = data.user || {};

function customer() {
  return screenPop.customer;
}

// ----------------------------------------------------------------------- card
function drawCard() {
  replace($("#customer-card"), renderCustomerCard(screenPop, { people, currentUserId: me.id }));
  const name = customer().display_name || t("Unknown customer");
  const title = $("#customer-title");
  replace(title, name, " ", el("span", { class: "muted small" }, `#${customerId}`));
  document.title = `${name} · ${document.title.split(" · ").pop()}`;
}

async function reloadProfile() {
  const profile = await api("GET", `/api/v1/customers/${customerId}`);
  screenPop = { ...screenPop, customer: { ...screenPop.customer, ...profile, value: { ...screenPop.customer.value, ...profile.value } } };
  drawCard();
  drawIdentities();
}

// ----------------------------------------------------------------- identities
function drawIdentities() {
  const list = $("#identities");
  const identities = customer().identities || [];
  if (!identities.length) {
    replace(list, el("li", { class: "muted" }, t("None")));
    return;
  }
  replace(
    list,
    identities.map((identity) =>
      el(
        "li",
        { "data-kind": identity.kind },
        el("span", {}, el("span", { class: "identity-kind" }, identityKindLabel(identity.kind)), el("span", { class: "identity-value" }, identity.value)),
        el("button", {
          type: "button",
          class: "button button-small button-danger",
          "aria-label": t("Remove {value}", { value: identity.value }),
          onclick: () => removeIdentity(identity),
        }, t("Remove")),
      ),
    ),
  );
}

async function removeIdentity(identity) {
  if (!window.confirm(t("Remove {value} from this customer?", { value: identity.value }))) return;
  try {
    await api("DELETE", `/api/v1/customers/${customerId}/identities${query(identity)}`);
    toast(t("Removed."));
    await reloadProfile();
  } catch (error) {
    toast(error.message, "error");
  }
}

$("#identity-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const form = event.target;
  const value = form.value.value.trim();
  if (!value) return;
  try {
    await api("POST", `/api/v1/customers/${customerId}/identities`, { kind: form.kind.value, value });
    form.value.value = "";
    toast(t("Added."));
    await reloadProfile();
  } catch (error) {
    toast(error.message, "error");
  }
});

// --------------------------------------------------------------------- orders
function drawOrders() {
  const orders = screenPop.recent_orders || [];
  if (!orders.length) {
    replace($("#orders"), el("p", { class: "empty" }, t("No orders.")));
    return;
  }
  replace(
    $("#orders"),
    el(
      "table",
      { class: "table" },
      el("thead", {}, el("tr", {},
        el("th", { scope: "col" }, t("Order")),
        el("th", { scope: "col" }, t("Date")),
        el("th", { scope: "col" }, t("Status")),
        el("th", { scope: "col", class: "number" }, t("Amount")))),
      el("tbody", {}, orders.map((order) =>
        el("tr", {},
          el("td", { class: "mono nowrap" }, order.external_id),
          el("td", { class: "nowrap" }, formatDate(order.ordered_at, { dateStyle: "medium" })),
          el("td", {}, order.status || ""),
          el("td", { class: "number" }, formatMoney(order.amount, order.currency))))),
    ),
  );
}

// ---------------------------------------------------------------------- notes
function drawNotes() {
  const notes = screenPop.notes || [];
  replace(
    $("#customer-notes"),
    notes.map((note) =>
      el("div", { class: "timeline-note", "data-note-id": note.id },
        el("span", { class: "snippet-who" }, t("Note by {author}, {when}", { author: note.author || "", when: formatDate(note.created_at) })),
        note.body),
    ),
  );
}

$("#note-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const textarea = $("#note-body");
  const body = textarea.value.trim();
  if (!body) return;
  const button = event.target.querySelector("button[type=submit]");
  button.disabled = true;
  try {
    const note = await api("POST", `/api/v1/customers/${customerId}/notes`, { body });
    screenPop.notes = [{ author: me.username, created_at: Date.now() / 1000, ...note, body }, ...(screenPop.notes || [])];
    textarea.value = "";
    drawNotes();
    toast(t("Note saved."));
  } catch (error) {
    toast(t("Could not save the note: {message}", { message: error.message }), "error");
  } finally {
    button.disabled = false;
  }
});

// ----------------------------------------------------------------------- edit
const dialog = $("#edit-dialog");
const editForm = $("#edit-form");

function fillEditForm() {
  const c = customer();
  editForm.display_name.value = c.display_name || "";
  replace(editForm.lifecycle_stage, STAGES.map((stage) => el("option", { value: stage, selected: stage === c.lifecycle_stage }, stageLabel(stage))));
  replace(
    editForm.owner_agent_id,
    el("option", { value: "" }, t("None")),
    Object.entries(people).map(([id, name]) => el("option", { value: id, selected: Number(id) === c.owner_agent_id }, name)),
  );
  editForm.language.value = c.language || "";
  editForm.timezone.value = c.timezone || "";
  editForm.tags.value = (c.tags || []).join(", ");
  const consent = c.consent || {};
  replace(
    $("#edit-consent"),
    CONSENT_KEYS.map((key) =>
      el("label", {}, el("input", { type: "checkbox", name: `consent-${key}`, checked: Boolean(consent[key]) }), consentLabel(key)),
    ),
  );
  $("#edit-error").hidden = true;
}

$("#edit-button").addEventListener("click", () => {
  fillEditForm();
  dialog.showModal();
});
$("#edit-cancel").addEventListener("click", () => dialog.close());

editForm.addEventListener("submit", async (event) => {
  event.preventDefault();
  const owner = editForm.owner_agent_id.value;
  const consent = {};
  for (const key of CONSENT_KEYS) consent[key] = editForm[`consent-${key}`].checked;
  const changes = {
    display_name: editForm.display_name.value.trim(),
    lifecycle_stage: editForm.lifecycle_stage.value,
    owner_agent_id: owner ? Number(owner) : null,
    language: editForm.language.value.trim(),
    timezone: editForm.timezone.value.trim(),
    tags: editForm.tags.value.split(",").map((tag) => tag.trim()).filter(Boolean),
    consent,
  };
  try {
    await api("PATCH", `/api/v1/customers/${customerId}`, changes);
    dialog.close();
    toast(t("Saved."));
    await reloadProfile();
  } catch (error) {
    const box = $("#edit-error");
    box.textContent = error.message;
    box.hidden = false;
  }
});

// --------------------------------------------------------------------- merges
async function drawMerges() {
  const slot = $("#merges");
  try {
    const { items } = await api("GET", `/api/v1/customers/${customerId}/merges`);
    if (!items.length) {
      replace(slot, el("p", { class: "muted small" }, t("No merges.")));
      return;
    }
    replace(
      slot,
      el("ul", { class: "list-plain" }, items.map((merge) =>
        el("li", { "data-merge-id": merge.id },
          el("span", {},
            el("a", { href: `/customers/${merge.merged_id}` }, `#${merge.merged_id}`),
            " ",
            t("into"),
            " ",
            el("a", { href: `/customers/${merge.survivor_id}` }, `#${merge.survivor_id}`),
            el("span", { class: "muted small" }, ` · ${formatDate(merge.merged_at || merge.created_at)}`),
            merge.undone_at ? el("span", { class: "badge" }, t("Undone")) : null),
          data.can_merge && !merge.undone_at
            ? el("button", { type: "button", class: "button button-small", onclick: () => undoMerge(merge) }, t("Undo"))
            : null))),
    );
  } catch (error) {
    replace(slot, el("p", { class: "alert" }, error.message));
  }
}

async function undoMerge(merge) {
  if (!window.confirm(t("Undo this merge?"))) return;
  try {
    await api("POST", `/api/v1/merges/${merge.id}/undo`);
    toast(t("Merge undone."));
    window.location.reload();
  } catch (error) {
    toast(error.message, "error");
  }
}

const mergeForm = $("#merge-form");
if (mergeForm) {
  mergeForm.addEventListener("submit", async (event) => {
    event.preventDefault();
    const mergedId = Number(mergeForm.merged_id.value);
    if (!window.confirm(t("Merge customer #{merged} into this customer?", { merged: mergedId }))) return;
    try {
      await api("POST", "/api/v1/merges", { survivor_id: customerId, merged_id: mergedId, reason: mergeForm.reason.value.trim() });
      toast(t("Merged."));
      window.location.reload();
    } catch (error) {
      toast(error.message, "error");
    }
  });
}

// ---------------------------------------------------------------------- audit
let auditCursor = null;
async function drawAudit(cursor) {
  const slot = $("#audit");
  if (!slot) return;
  try {
    const page = await api("GET", `/api/v1/audit${query({ customer_id: customerId, limit: 20, cursor })}`);
    const rows = page.items.map((entry) =>
      el("tr", {},
        el("td", { class: "nowrap" }, formatDate(entry.at || entry.created_at)),
        el("td", {}, entry.actor_name || personName(people, entry.actor_id)),
        el("td", { title: entry.action }, auditActionLabel(entry.action),
          entry.details && entry.details.via ? el("span", { class: "muted small" }, ` · ${entry.details.via}`) : null),
        el("td", { class: "small" }, entry.contact_id || "")));
    const table = cursor && slot.querySelector("tbody")
      ? null
      : el("table", { class: "table" },
        el("thead", {}, el("tr", {},
          el("th", { scope: "col" }, t("When")), el("th", { scope: "col" }, t("Who")),
          el("th", { scope: "col" }, t("What")), el("th", { scope: "col" }, t("Contact")))),
        el("tbody", {}));
    if (table) replace(slot, table, el("div", { class: "timeline-more" }));
    slot.querySelector("tbody").append(...rows);
    auditCursor = page.next_cursor;
    replace(slot.querySelector(".timeline-more"),
      auditCursor ? el("button", { type: "button", class: "button", onclick: () => drawAudit(auditCursor) }, t("Show older")) : null);
  } catch (error) {
    replace(slot, el("p", { class: "alert" }, error.message));
  }
}

drawCard();
drawIdentities();
drawOrders();
drawNotes();
mountTimeline($("#timeline"), { customerId, screenPop, people, pageSize: data.page_size || 20 });
drawMerges();
if (data.can_audit) drawAudit(null);
