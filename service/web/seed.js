// The seed: an uploaded file (sent as it is), a microphone recording (sent as a 16-bit WAV), or silence
// (nothing sent). Shown as waveform and spectrogram when this browser can decode it.

import { decodeAudio } from "./decode.js";
import { $, hideError, megabytes, seconds, setObjectUrl, showError } from "./dom.js";
import { show, spectrogramPlot, waveform } from "./plots.js";
import { available, Recording } from "./recorder.js";
import { page } from "./state.js";
import { encodeWav16 } from "./wav.js";

// Room left in max_upload_bytes for the multipart boundaries and the other form fields.
export const FORM_OVERHEAD_BYTES = 2048;

let recording = null;
let recordingTimer = null;

export function initSeed() {
  $("seed-file").addEventListener("change", () => {
    const file = $("seed-file").files[0];
    if (file) useFile(file);
  });
  $("use-silence").addEventListener("click", () => {
    $("seed-file").value = "";
    setSeed({ name: null, blob: null, samples: new Float32Array(0) }, "Seed: silence.");
  });
  const record = $("record");
  if (available()) {
    record.addEventListener("click", () => (recording ? finishRecording() : startRecording()));
  } else {
    record.disabled = true;
    $("record-hint").hidden = false;
  }
}

// Why the current seed would be refused, in words; "" when it is within the server's limits.
export function seedProblem() {
  const { blob, samples } = page.seed;
  const { max_upload_bytes: maxBytes, max_seed_seconds: maxSeconds } = page.info.limits;
  if (blob && blob.size + FORM_OVERHEAD_BYTES > maxBytes) {
    return `The seed is ${megabytes(blob.size)}; the server takes uploads of at most ${megabytes(maxBytes)}.`;
  }
  if (samples && samples.length > maxSeconds * page.info.sample_rate) {
    return `The seed is ${seconds(samples.length / page.info.sample_rate)} long; the server takes at most ` +
      `${maxSeconds} s.`;
  }
  return "";
}

function setSeed(seed, description) {
  page.seed = seed;
  $("seed-status").textContent = description;
  const problem = seedProblem();
  if (problem) showError($("seed-error"), new Error(problem));
  else hideError($("seed-error"));
  $("score-seed").disabled = !seed.blob;
  $("seed-download").hidden = true;
  const plots = $("seed-plots");
  plots.hidden = !seed.blob;
  if (seed.samples && seed.samples.length > 0) {
    const length = seconds(seed.samples.length / page.info.sample_rate);
    show($("seed-waveform"), waveform(seed.samples), `Waveform of the seed, ${length}`);
    show($("seed-spectrogram"), spectrogramPlot(seed.samples), `Spectrogram of the seed, ${length}`);
  }
  $("seed-waveform").hidden = $("seed-spectrogram").hidden = !seed.samples;
}

async function useFile(file) {
  const rate = page.info.sample_rate;
  $("seed-status").textContent = `Reading ${file.name}…`;
  try {
    const samples = await decodeAudio(file, rate);
    setSeed({ name: file.name, blob: file, samples }, `Seed: ${file.name}, ${seconds(samples.length / rate)}.`);
  } catch {
    setSeed({ name: file.name, blob: file, samples: null },
      `Seed: ${file.name} (${megabytes(file.size)}). This browser cannot draw this format; the server decodes it ` +
      "when you generate.");
  }
}

async function startRecording() {
  hideError($("seed-error"));
  try {
    recording = await Recording.start();
  } catch (error) {
    showError($("seed-error"), new Error(`The microphone is not available: ${error.message}`));
    return;
  }
  const record = $("record");
  record.textContent = "Stop recording";
  record.setAttribute("aria-pressed", "true");
  const started = performance.now();
  const limit = page.info.limits.max_seed_seconds;
  recordingTimer = setInterval(() => {
    const elapsed = (performance.now() - started) / 1000;
    $("seed-status").textContent = `Recording: ${seconds(elapsed)} (it stops by itself at ${limit} s).`;
    if (elapsed >= limit) finishRecording();
  }, 100);
}

async function finishRecording() {
  clearInterval(recordingTimer);
  const finished = recording;
  recording = null;
  const record = $("record");
  record.textContent = "Record from the microphone";
  record.setAttribute("aria-pressed", "false");
  const rate = page.info.sample_rate;
  let samples;
  try {
    samples = await decodeAudio(await finished.stop(), rate);
  } catch (error) {
    showError($("seed-error"), new Error(`The recording could not be decoded: ${error.message}`));
    return;
  }
  samples = samples.subarray(0, Math.floor(page.info.limits.max_seed_seconds * rate));
  const blob = encodeWav16(samples, rate);
  const link = $("seed-download");
  setObjectUrl(link, "href", blob);
  link.download = "recording.wav";
  $("seed-file").value = "";
  setSeed({ name: "recording.wav", blob, samples },
    `Seed: your recording, ${seconds(samples.length / rate)} (sent as recording.wav; save it to reuse the curl ` +
    "command).");
  link.hidden = false;
}
