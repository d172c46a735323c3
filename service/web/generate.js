// Generate: send the seed and parameters, play the WAV while it streams in, report progress, stop on
// request (aborting the fetch closes the connection; the server frees the stream at its next step), and
// when done show seed + continuation, a download and the curl command that repeats the request.

import { hasApiKey, postGenerate } from "./api.js";
import { curlCommand } from "./curl.js";
import { $, concatSamples, count, hideError, seconds, setObjectUrl, showError } from "./dom.js";
import { StreamPlayer } from "./player.js";
import { show, spectrogramPlot, waveform } from "./plots.js";
import { seedProblem } from "./seed.js";
import { page } from "./state.js";
import { validate, watch } from "./validation.js";
import { WavStreamDecoder } from "./wav.js";

const PROGRESS_INTERVAL_MS = 200;
const FIELD_IDS = ["duration", "temperature", "random-seed"];

let audioContext = null;
let run = null; // the generation in progress: {controller, player, received, total, rate, started, ...}

export function initGenerate() {
  watch(FIELD_IDS.map($));
  $("generate-form").addEventListener("submit", (event) => {
    event.preventDefault();
    generate();
  });
  $("stop").addEventListener("click", stop);
  $("copy-curl").addEventListener("click", copyCurl);
}

// The form fields in the order curl gets them; names and values exactly as sent.
function requestFields() {
  const fields = [["duration", $("duration").value.trim()], ["temperature", $("temperature").value.trim()]];
  const randomSeed = $("random-seed").value.trim();
  if (randomSeed) fields.push(["random_seed", randomSeed]);
  fields.push(["format", $("format").value]);
  return fields;
}

function setStatus(text) {
  $("generate-status").textContent = text;
}

function reportProgress() {
  const { received, total, rate, player } = run;
  const progress = $("progress");
  progress.max = Math.max(1, total);
  progress.value = received;
  if (!rate) return;
  const elapsed = ((run.finished ?? performance.now()) - run.started) / 1000;
  const parts = [
    `${count(received)} of ${count(total)} samples (${seconds(received / rate)} of ${seconds(total / rate)})`,
    `${(received / rate / elapsed).toFixed(1)}× real time`,
  ];
  if (player) parts.push(`played ${seconds(player.playedSeconds)}`);
  $("progress-text").textContent = parts.join(" · ");
}

async function generate() {
  const invalid = validate(FIELD_IDS.map($));
  if (invalid) {
    invalid.focus();
    return;
  }
  const seedIssue = seedProblem();
  if (seedIssue) {
    showError($("generate-error"), new Error(seedIssue));
    return;
  }
  hideError($("generate-error"));
  if (run) {
    run.player?.stop();
    clearInterval(run.timer);
  }
  // Created inside the click (a user gesture), or the browser keeps it suspended and nothing is heard.
  audioContext ??= new AudioContext();
  audioContext.resume();
  const fields = requestFields();
  const seed = page.seed;
  const form = new FormData();
  if (seed.blob) form.append("seed", seed.blob, seed.name);
  for (const [name, value] of fields) form.append(name, value);

  run = { controller: new AbortController(), player: null, received: 0, total: 0, rate: 0,
          started: performance.now(), finished: null, timer: null };
  $("generate").disabled = true;
  $("stop").disabled = false;
  setStatus("Sending the request…");
  const current = run;
  try {
    const response = await postGenerate(form, current.controller.signal);
    setStatus("Generating: playing as it arrives.");
    current.timer = setInterval(tick, PROGRESS_INTERVAL_MS);
    const { chunks, pieces } = await receive(response, current);
    showResult(chunks, pieces, current.rate, fields, seed, response.headers.get("X-Random-Seed"));
    setStatus(`Done: ${seconds(current.total / current.rate)} in ` +
      `${seconds((current.finished - current.started) / 1000)}.`);
  } catch (error) {
    current.player?.stop();
    if (current.controller.signal.aborted) {
      setStatus(current.total ? `Stopped after ${count(current.received)} of ${count(current.total)} samples: the ` +
        "request was cancelled, so the server stopped generating." : "Stopped before the server answered.");
    } else {
      const brokeOff = current.total ? `The stream broke off after ${count(current.received)} of ` +
        `${count(current.total)} samples (the server log says why): ` : "";
      showError($("generate-error"), { message: brokeOff + error.message, code: error.code });
      setStatus("Not generated.");
    }
  } finally {
    current.finished ??= performance.now();
    tick();
  }
}

async function receive(response, current) {
  const decoder = new WavStreamDecoder();
  const reader = response.body.getReader();
  const chunks = [];
  const pieces = [];
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    chunks.push(value);
    const samples = decoder.push(value);
    current.total = decoder.totalSamples;
    current.rate = decoder.sampleRate;
    if (!current.player && current.rate) current.player = new StreamPlayer(audioContext, current.rate);
    current.player?.push(samples);
    pieces.push(samples);
    current.received += samples.length;
  }
  current.finished = performance.now();
  if (current.received < current.total) throw new Error("the response ended early.");
  return { chunks, pieces };
}

// Progress while receiving, then while the rest plays (Stop silences it); idle once both are over.
function tick() {
  reportProgress();
  const playing = Boolean(run.player?.playing);
  $("generate").disabled = run.finished === null;
  $("stop").disabled = run.finished !== null && !playing;
  if (run.finished !== null && !playing) clearInterval(run.timer);
}

function stop() {
  run?.controller.abort();
  run?.player?.stop();
  tick();
}

function showResult(chunks, pieces, rate, fields, seed, randomSeed) {
  const blob = new Blob(chunks, { type: "audio/wav" });
  const name = `wavenet-${randomSeed}.wav`;
  const continuation = concatSamples(pieces);
  const link = $("download");
  const url = setObjectUrl(link, "href", blob);
  link.download = name;
  $("result-audio").src = url;
  page.result = { blob, url, name, samples: continuation };
  $("score-result").disabled = false;
  $("result").hidden = false;

  const seedSamples = seed.samples ?? new Float32Array(0);
  const whole = concatSamples([seedSamples, continuation]);
  const description = seed.blob && !seed.samples
    ? `the continuation (${seconds(continuation.length / rate)}); this browser could not decode the seed`
    : `the seed (${seconds(seedSamples.length / rate)}) and its continuation (${seconds(continuation.length / rate)}),` +
      " with a dashed line where the continuation starts";
  const boundary = seed.blob && !seed.samples ? null : seedSamples.length;
  show($("result-waveform"), waveform(whole, boundary), `Waveform of ${description}`);
  show($("result-spectrogram"), spectrogramPlot(whole, boundary), `Spectrogram of ${description}`);

  const sent = fields.filter(([field]) => field !== "random_seed");
  sent.splice(2, 0, ["random_seed", randomSeed]);
  $("curl").textContent = curlCommand(`${location.origin}/generate`, sent, seed.name, name, hasApiKey());
  $("copy-status").textContent = "";
}

async function copyCurl() {
  try {
    await navigator.clipboard.writeText($("curl").textContent);
    $("copy-status").textContent = "Copied.";
  } catch {
    window.getSelection().selectAllChildren($("curl"));
    $("copy-status").textContent = "Selected: press Ctrl+C (⌘C) to copy.";
  }
}
