// Calls to the REST API from the pages: JSON in and out, the session's CSRF token on
// every change, and the server's error id and message kept on failure.

import { pageData } from "./page.js";

export class ApiError extends Error {
  constructor(status, error, message, details) {
    super(message || error || `HTTP ${status}`);
    this.name = "ApiError";
    this.status = status;
    this.error = error || `http-${status}`;
    this.details = details || {};
  }
}

const SAFE = new Set(["GET", "HEAD", "OPTIONS"]);

export async function api(method, path, body) {
  const headers = { Accept: "application/json" };
  const options = { method, headers, credentials: "same-origin" };
  if (!SAFE.has(method)) {
    const token = pageData().csrf_token;
    if (token) headers["X-CSRF-Token"] = token;
  }
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    options.body = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(path, options);
  } catch (cause) {
    throw new ApiError(0, "network-error", "the server cannot be reached", { cause: String(cause) });
  }
  if (response.status === 204) return null;
  const text = await response.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = null;
    }
  }
  if (!response.ok) {
    if (response.status === 401 && data && (data.error === "session-expired" || data.error === "unauthenticated")) {
      // The session ended (idle, logged out elsewhere): back to the login page.
      window.location.assign(`/login?next=${encodeURIComponent(location.pathname + location.search)}`);
    }
    throw new ApiError(response.status, data && data.error, data && data.message, data && data.details);
  }
  return data;
}

// A query string from an object, leaving out null/undefined/"" values.
export function query(params) {
  const search = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value !== null && value !== undefined && value !== "") search.set(key, String(value));
  }
  const text = search.toString();
  return text ? `?${text}` : "";
}
