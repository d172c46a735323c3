// The API-key field: shown only once the server has asked for a key (401), kept in api.js's memory only.

import { setApiKey } from "./api.js";

export function initKeyForm(onKey) {
  const form = document.getElementById("key-form");
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    setApiKey(document.getElementById("api-key").value);
    onKey();
  });
}

export function askForKey(message) {
  document.getElementById("key-form").hidden = false;
  document.getElementById("api-key-hint").textContent =
    `${message} The key stays in this tab's memory only: it is not saved and never put in a URL.`;
  document.getElementById("api-key").focus();
}
