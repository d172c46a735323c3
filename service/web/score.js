// Score a recording: POST /likelihood, then plot its bits-per-sample curve over the waveform, with the total
// beside the model's own held-out figure, so the parts that surprise the model stand out.

import { postLikelihood } from "./api.js";
import { decodeAudio } from "./decode.js";
import { $, count, hideError, megabytes, seconds, showError } from "./dom.js";
import { likelihoodPlot, show } from "./plots.js";
import { FORM_OVERHEAD_BYTES } from "./seed.js";
import { page } from "./state.js";

const BUTTONS = ["score-file", "score-seed", "score-result"];

export function initScore() {
  $("score-file").addEventListener("change", async () => {
    const file = $("score-file").files[0];
    if (!file) return;
    let samples = null;
    try {
      samples = await decodeAudio(file, page.info.sample_rate);
    } catch {
      // Plotted without its waveform: the server may read formats this browser cannot.
    }
    score(file, file.name, samples);
  });
  $("score-seed").addEventListener("click", () => score(page.seed.blob, page.seed.name, page.seed.samples));
  $("score-result").addEventListener("click", () => score(page.result.blob, page.result.name, page.result.samples));
}

function limitProblem(blob, samples) {
  const { max_upload_bytes: maxBytes, max_likelihood_seconds: maxSeconds } = page.info.limits;
  if (blob.size + FORM_OVERHEAD_BYTES > maxBytes) {
    return `The recording is ${megabytes(blob.size)}; the server takes uploads of at most ${megabytes(maxBytes)}.`;
  }
  if (samples && samples.length > maxSeconds * page.info.sample_rate) {
    return `The recording is ${seconds(samples.length / page.info.sample_rate)} long; the server scores at most ` +
      `${maxSeconds} s.`;
  }
  return "";
}

async function score(blob, name, samples) {
  const error = $("score-error");
  const problem = limitProblem(blob, samples);
  if (problem) {
    showError(error, new Error(problem));
    return;
  }
  hideError(error);
  $("score-status").textContent = `Scoring ${name}…`;
  const disabled = BUTTONS.map((id) => [id, $(id).disabled]);
  BUTTONS.forEach((id) => ($(id).disabled = true));
  const form = new FormData();
  form.append("audio", blob, name);
  try {
    const result = await postLikelihood(form);
    plot(result, name, samples);
    $("score-status").textContent = `Scored ${name}: ${count(result.samples_scored)} samples.`;
  } catch (failure) {
    showError(error, failure);
    $("score-status").textContent = "";
  } finally {
    disabled.forEach(([id, was]) => ($(id).disabled = was));
  }
}

function plot(result, name, samples) {
  const heldout = page.info.checkpoint.metadata?.heldout_nll_bits ?? null;
  const { bits_per_sample: bits, hop_seconds: hop } = result.curve;
  $("score-name").textContent = name;
  $("score-bits").textContent = `${result.bits_per_sample.toFixed(3)} bits per sample`;
  $("heldout-bits").textContent = heldout === null ? "not recorded in this checkpoint"
    : `${heldout.toFixed(3)} bits per sample`;
  $("score-output").hidden = false;
  const peak = bits.reduce((best, value, i) => (value > bits[best] ? i : best), 0);
  show($("score-plot"), likelihoodPlot(samples, page.info.sample_rate, bits, hop, heldout),
    `Bits per sample over time for ${name}: ${result.bits_per_sample.toFixed(2)} on average, highest ` +
    `(${bits[peak].toFixed(2)}) at ${seconds(peak * hop)}` +
    (heldout === null ? "" : `; the model's held-out figure is ${heldout.toFixed(2)}`));
}
