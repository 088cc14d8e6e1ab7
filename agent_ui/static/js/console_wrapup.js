// The wrap-up form: the contact's outcome (a disposition of its queue, required where
// the queue says so), notes, the queue's wrap-up timer, and "Finish" to become
// available again (POST /api/v1/contacts/{id}/wrap-up). The typed notes survive a
// redraw of the work area: they live in the item, not only in the textarea.

import { el } from "./dom.js";
import { t } from "./i18n.js";
import { clock } from "./console_state.js";

export function renderWrapUp(item, { queue, pending, serverNow, onSave }) {
  const dispositions = (queue && queue.dispositions) || [];
  const required = Boolean(queue && queue.disposition_required);
  const draft = item.wrapDraft;
  const select = el(
    "select",
    { id: "wrap-disposition", name: "disposition", required: required && dispositions.length > 0 },
    el("option", { value: "" }, required ? t("Choose an outcome…") : t("No outcome")),
    dispositions.map((d) => el("option", { value: d.id, selected: d.id === draft.disposition }, d.label || d.id)),
  );
  const notes = el("textarea", { id: "wrap-notes", name: "notes", rows: "4", maxlength: "20000",
    placeholder: t("What was it about, what was agreed, what is next?") });
  notes.value = draft.notes;
  select.addEventListener("change", () => { draft.disposition = select.value; });
  notes.addEventListener("input", () => { draft.notes = notes.value; });

  const deadline = item.wrapDeadline;
  const left = deadline ? Math.max(0, deadline - serverNow) : null;
  const form = el(
    "form",
    { class: "wrap-up-form", "aria-labelledby": "wrap-title", novalidate: true },
    el("header", { class: "work-head" },
      el("div", { class: "work-title" },
        el("h2", { id: "wrap-title" }, t("Wrap-up")),
        el("p", { class: "muted small" }, t("Record the outcome, then finish to take the next contact."))),
      left !== null
        ? el("span", { class: `wrap-timer ${left < 15 ? "is-urgent" : ""}`, id: "wrap-timer", "aria-live": "off" }, clock(left))
        : el("span", { class: "badge" }, t("No time limit"))),
    el("label", { class: "field", for: "wrap-disposition" },
      el("span", {}, t("Outcome"), required ? el("span", { class: "required", "aria-hidden": "true" }, " *") : null), select),
    el("label", { class: "field", for: "wrap-notes" }, el("span", {}, t("Notes")), notes),
    item.wrapError ? el("p", { class: "alert", role: "alert" }, item.wrapError) : null,
    el("div", { class: "form-row wrap-actions" },
      el("button", { type: "button", class: "button", "data-action": "wrap-save", disabled: pending, onclick: () => onSave(false) }, t("Save")),
      el("button", { type: "submit", class: "button button-primary", "data-action": "wrap-finish", disabled: pending }, t("Finish wrap-up"))),
  );
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    if (required && dispositions.length && !select.value) {
      item.wrapError = t("Choose an outcome first: this queue needs one.");
      select.setAttribute("aria-invalid", "true");
      select.focus();
      const alert = form.querySelector(".alert");
      if (!alert) select.closest("label").after(el("p", { class: "alert", role: "alert" }, item.wrapError));
      return;
    }
    onSave(true);
  });
  return form;
}
