// Starts the page: asks the server for its model and limits (/info), asking for an API key if it wants one,
// then sets the form's limits from the answer and wires up the seed, generate and score parts.

import { ApiError, getInfo, hasApiKey } from "./api.js";
import { $, seconds } from "./dom.js";
import { initGenerate } from "./generate.js";
import { askForKey, initKeyForm } from "./key.js";
import { initScore } from "./score.js";
import { initSeed } from "./seed.js";
import { page } from "./state.js";

const RETRY_MS = 2000;

function describeModel(info) {
  const { checkpoint, engine, sample_rate: rate, receptive_field: field } = info;
  const file = checkpoint.path.split("/").pop();
  const heldout = checkpoint.metadata?.heldout_nll_bits;
  $("model-summary").textContent = `Model: ${file} (sha256 ${checkpoint.sha256.slice(0, 12)}…), ` +
    `${rate / 1000} kHz, receptive field ${field} samples (${seconds(field / rate)}), ` +
    (heldout === undefined ? "" : `${heldout} bits per sample on held-out speech, `) + `${engine.backend} kernel.`;
}

function applyLimits(limits) {
  const duration = $("duration");
  duration.max = limits.max_duration_seconds;
  if (Number(duration.value) > limits.max_duration_seconds) duration.value = limits.max_duration_seconds;
  $("duration-hint").textContent = `More than 0, at most ${limits.max_duration_seconds} s (the server's limit).`;
  $("seed-hint").textContent = "Any format the server accepts (WAV, FLAC, Ogg, MP3, AIFF and more), at most " +
    `${limits.max_seed_seconds} s.`;
  $("score-hint").textContent = `At most ${limits.max_likelihood_seconds} s. Or score what is already on this page:`;
  $("temperature").max = limits.max_temperature;
  $("temperature-hint").textContent = `More than 0, at most ${limits.max_temperature}; lower is more conservative.`;
}

async function loadInfo() {
  try {
    page.info = await getInfo();
  } catch (error) {
    if (error instanceof ApiError && error.code === "unauthorized") {
      $("model-summary").textContent = "This server needs an API key.";
      askForKey(hasApiKey() ? "The server refused that key." : "This server needs an API key: enter it to start.");
    } else if (error instanceof ApiError && error.status === 503) {
      $("model-summary").textContent = `${error.message} Trying again…`;
      setTimeout(loadInfo, RETRY_MS);
    } else {
      $("model-summary").textContent = `Could not reach the server: ${error.message}`;
    }
    return;
  }
  describeModel(page.info);
  applyLimits(page.info.limits);
  if (hasApiKey()) $("api-key-hint").textContent = "Key accepted. It stays in this tab's memory only.";
  $("generate-controls").disabled = false;
  $("score-controls").disabled = false;
}

initKeyForm(loadInfo);
initSeed();
initGenerate();
initScore();
loadInfo();
