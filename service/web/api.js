// The service's HTTP API as the page uses it. Every error the server sends is {"error": code, "detail":
// message}; ApiError carries both and says it in words. The API key lives in this module's memory only:
// never in storage or a URL, so closing the tab forgets it.

let apiKey = "";

export function setApiKey(key) {
  apiKey = key.trim();
}

export function hasApiKey() {
  return apiKey !== "";
}

const SUMMARIES = {
  unauthorized: "The server needs a valid API key.",
  invalid_parameters: "The server refused a value.",
  invalid_audio: "The server could not use the audio.",
  audio_too_long: "The audio is longer than the server accepts.",
  upload_too_large: "The file is larger than the server accepts.",
  unsupported_media_type: "The server does not accept this kind of upload.",
  busy: "The server is busy; try again in a few seconds.",
  not_ready: "The model is still loading; try again in a few seconds.",
  draining: "The server is shutting down.",
};

export class ApiError extends Error {
  constructor(status, code, detail) {
    super(`${SUMMARIES[code] ?? `The server answered ${status}.`} ${detail}`.trim());
    this.status = status;
    this.code = code;
  }
}

async function errorOf(response) {
  let body = null;
  try {
    body = await response.json();
  } catch {
    // Not the service's JSON (a proxy's HTML page, say): the status is all there is.
  }
  return new ApiError(response.status, body?.error ?? "http_error", body?.detail ?? response.statusText);
}

async function call(path, init = {}) {
  const headers = new Headers(init.headers);
  if (apiKey) headers.set("Authorization", `Bearer ${apiKey}`);
  let response;
  try {
    response = await fetch(path, { ...init, headers });
  } catch (error) {
    if (error.name === "AbortError") throw error; // the page cancelled it: not a failure to report
    throw new Error(`Could not reach the server (${error.message}).`);
  }
  if (!response.ok) throw await errorOf(response);
  return response;
}

export async function getInfo() {
  return (await call("/info")).json();
}

// Resolves as soon as the headers are in; the caller reads the WAV from response.body as it streams.
export function postGenerate(form, signal) {
  return call("/generate", { method: "POST", body: form, signal });
}

export async function postLikelihood(form) {
  return (await call("/likelihood", { method: "POST", body: form })).json();
}
