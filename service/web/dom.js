// Small helpers every part of the page uses to find elements and to say things in words.

import { askForKey } from "./key.js";

export const $ = (id) => document.getElementById(id);

export function showError(element, error) {
  element.textContent = error.message;
  element.hidden = false;
  if (error.code === "unauthorized") askForKey("The server needs an API key for this; enter it above.");
}

export function hideError(element) {
  element.textContent = "";
  element.hidden = true;
}

export function seconds(value) {
  return `${value.toFixed(value < 10 ? 2 : 1)} s`;
}

export function count(value) {
  return value.toLocaleString("en");
}

export function megabytes(bytes) {
  return `${(bytes / 1e6).toFixed(bytes < 1e7 ? 1 : 0)} MB`;
}

export function concatSamples(parts) {
  const out = new Float32Array(parts.reduce((sum, part) => sum + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

// Replaces an element's object URL, freeing the old one's memory.
export function setObjectUrl(element, attribute, blob) {
  const old = element.getAttribute(attribute);
  if (old?.startsWith("blob:")) URL.revokeObjectURL(old);
  const url = URL.createObjectURL(blob);
  element.setAttribute(attribute, url);
  return url;
}
