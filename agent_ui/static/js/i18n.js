// Translations and locale-aware formatting for the ES modules.
//
// t("English text", {name: "x"}) returns the current locale's translation from the
// catalog the server embedded in the page data (msgid -> text; English needs none),
// with {name} placeholders filled. `make i18n` extracts every t("...") call from these
// files into the gettext catalogs (see docs/consoles.md).

import { pageData } from "./page.js";

export function locale() {
  return pageData().locale || "en";
}

export function t(msgid, params) {
  const messages = pageData().messages || {};
  const text = Object.prototype.hasOwnProperty.call(messages, msgid) ? messages[msgid] : msgid;
  if (!params) return text;
  return text.replace(/\{(\w+)\}/g, (whole, name) =>
    Object.prototype.hasOwnProperty.call(params, name) ? String(params[name]) : whole,
  );
}

// ts: Unix time in seconds, as the API sends it.
export function formatDate(ts, options) {
  if (ts === null || ts === undefined) return "";
  const date = new Date(Number(ts) * 1000);
  return new Intl.DateTimeFormat(locale(), options || { dateStyle: "medium", timeStyle: "short" }).format(date);
}

export function formatDay(ts) {
  return formatDate(ts, { dateStyle: "medium" });
}

export function formatNumber(n, options) {
  if (n === null || n === undefined || Number.isNaN(Number(n))) return "";
  return new Intl.NumberFormat(locale(), options).format(Number(n));
}

export function formatMoney(amount, currency) {
  if (amount === null || amount === undefined) return "";
  if (currency) {
    try {
      return new Intl.NumberFormat(locale(), { style: "currency", currency }).format(Number(amount));
    } catch {
      // An unknown currency code: the number and the code.
    }
  }
  const text = formatNumber(amount, { minimumFractionDigits: 2, maximumFractionDigits: 2 });
  return currency ? `${text} ${currency}` : text;
}

// "4 min 5 s" / "4分钟5秒": a length of time for people, from seconds.
export function formatDuration(seconds) {
  if (seconds === null || seconds === undefined || Number.isNaN(Number(seconds))) return "";
  let rest = Math.max(0, Math.round(Number(seconds)));
  const hours = Math.floor(rest / 3600);
  rest -= hours * 3600;
  const minutes = Math.floor(rest / 60);
  const secs = rest - minutes * 60;
  if (typeof Intl.DurationFormat === "function") {
    const parts = hours ? { hours, minutes } : minutes ? { minutes, seconds: secs } : { seconds: secs };
    // A zero duration would format as "" (zero units are hidden): say "0 sec".
    const options = hours || minutes || secs ? { style: "short" } : { style: "short", secondsDisplay: "always" };
    return new Intl.DurationFormat(locale(), options).format(parts);
  }
  if (hours) return `${hours}:${String(minutes).padStart(2, "0")}:${String(secs).padStart(2, "0")}`;
  return `${minutes}:${String(secs).padStart(2, "0")}`;
}

// "3 days ago" in the locale's words.
export function formatRelative(ts) {
  if (ts === null || ts === undefined) return "";
  const diff = Number(ts) - Date.now() / 1000;
  const steps = [
    ["year", 31536000], ["month", 2592000], ["week", 604800], ["day", 86400],
    ["hour", 3600], ["minute", 60],
  ];
  const format = new Intl.RelativeTimeFormat(locale(), { numeric: "auto" });
  for (const [unit, size] of steps) {
    if (Math.abs(diff) >= size) return format.format(Math.round(diff / size), unit);
  }
  return format.format(0, "minute");
}
