// Calls to the node's console API. Every state-changing call carries the
// session's CSRF token; the browser adds Origin and the SameSite cookie.

let csrf = null;

export function setCsrf(token) {
  csrf = token;
}

// A refusal, as the node's problem document describes it.
export class Problem extends Error {
  constructor(status, doc) {
    super(doc.detail || doc.title || `HTTP ${status}`);
    this.status = status;
    this.type = doc.type || "";
    this.field = doc.field;
  }
}

export async function call(method, path, body) {
  const headers = { Accept: "application/json" };
  if (method !== "GET" && method !== "HEAD" && csrf) headers["X-CSRF-Token"] = csrf;
  const init = { method, headers, credentials: "same-origin" };
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  if (response.status === 204) return null;
  const text = await response.text();
  const doc = text ? JSON.parse(text) : {};
  if (!response.ok) throw new Problem(response.status, doc);
  return doc;
}

export const get = (path) => call("GET", path);
export const post = (path, body) => call("POST", path, body);
export const del = (path) => call("DELETE", path);
