// Canvas plots: waveform, spectrogram, and a likelihood curve over a waveform. A canvas keeps its drawing
// and redraws it whenever its box changes size (window resize, phone rotation) at the screen's pixel
// density, so plots stay sharp at any width.

import { spectrogram } from "./spectrum.js";

const COLOURS = {
  background: "#ffffff",
  wave: "#3c4043",
  faintWave: "#c4c7c5",
  boundary: "#b3261e",
  curve: "#c2410c",
  reference: "#0b57d0",
  grid: "#e3e3e3",
  text: "#1f1f1f",
};
// Viridis at five stops: dark to bright reads as quiet to loud, also in greyscale and for colour-blind eyes.
const COLOUR_MAP = [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]];
const DYNAMIC_RANGE_DB = 80;
const MAX_BITS = 8; // log2(256): a model that knows nothing about the next mu-law code

const drawings = new WeakMap();
const resizes = new ResizeObserver((entries) => entries.forEach((entry) => redraw(entry.target)));

function redraw(canvas) {
  const draw = drawings.get(canvas);
  if (!draw || canvas.clientWidth === 0) return;
  const ratio = window.devicePixelRatio || 1;
  canvas.width = Math.round(canvas.clientWidth * ratio);
  canvas.height = Math.round(canvas.clientHeight * ratio);
  const context = canvas.getContext("2d");
  context.setTransform(ratio, 0, 0, ratio, 0, 0);
  context.fillStyle = COLOURS.background;
  context.fillRect(0, 0, canvas.clientWidth, canvas.clientHeight);
  draw(context, canvas.clientWidth, canvas.clientHeight);
}

export function show(canvas, draw, description) {
  drawings.set(canvas, draw);
  canvas.setAttribute("aria-label", description);
  resizes.observe(canvas);
  redraw(canvas);
}

function envelope(context, samples, width, height, colour) {
  const middle = height / 2;
  context.fillStyle = colour;
  for (let x = 0; x < width; x++) {
    const from = Math.floor((x * samples.length) / width);
    const to = Math.max(from + 1, Math.floor(((x + 1) * samples.length) / width));
    let low = 1;
    let high = -1;
    for (let i = from; i < to && i < samples.length; i++) {
      low = Math.min(low, samples[i]);
      high = Math.max(high, samples[i]);
    }
    if (high >= low) context.fillRect(x, middle - high * middle, 1, Math.max(1, (high - low) * middle));
  }
}

function label(context, text, x, y, align = "left") {
  context.font = "12px system-ui, sans-serif";
  context.textAlign = align;
  context.textBaseline = "top";
  const width = context.measureText(text).width;
  const left = align === "right" ? x - width : x;
  context.fillStyle = "rgba(255, 255, 255, 0.85)";
  context.fillRect(left - 3, y - 2, width + 6, 16);
  context.fillStyle = COLOURS.text;
  context.fillText(text, x, y);
}

// The seed/continuation boundary: a dashed line at `boundary` samples out of `total`.
function boundaryLine(context, boundary, total, width, height) {
  if (boundary === null || total === 0) return;
  const x = Math.round((boundary / total) * width) + 0.5;
  context.strokeStyle = COLOURS.boundary;
  context.lineWidth = 2;
  context.setLineDash([6, 4]);
  context.beginPath();
  context.moveTo(x, 0);
  context.lineTo(x, height);
  context.stroke();
  context.setLineDash([]);
  if (boundary > 0) label(context, "seed", x - 6, 4, "right");
  label(context, "continuation", x + 6, 4);
}

export function waveform(samples, boundary = null) {
  return (context, width, height) => {
    envelope(context, samples, width, height, COLOURS.wave);
    boundaryLine(context, boundary, samples.length, width, height);
  };
}

function colourOf(level) {
  const position = Math.min(1, Math.max(0, level)) * (COLOUR_MAP.length - 1);
  const i = Math.min(COLOUR_MAP.length - 2, Math.floor(position));
  const t = position - i;
  return COLOUR_MAP[i].map((c, k) => c + t * (COLOUR_MAP[i + 1][k] - c));
}

export function spectrogramPlot(samples, boundary = null) {
  return (context, width, height) => {
    const { columns, bins, decibels } = spectrogram(samples, Math.max(1, Math.floor(width)));
    const loudest = decibels.reduce((a, b) => Math.max(a, b), -Infinity);
    const image = new ImageData(columns, bins);
    for (let column = 0; column < columns; column++) {
      for (let bin = 0; bin < bins; bin++) {
        const level = 1 + (decibels[column * bins + bin] - loudest) / DYNAMIC_RANGE_DB;
        const pixel = 4 * ((bins - 1 - bin) * columns + column); // low frequencies at the bottom
        image.data.set([...colourOf(level), 255], pixel);
      }
    }
    const tile = document.createElement("canvas");
    tile.width = columns;
    tile.height = bins;
    tile.getContext("2d").putImageData(image, 0, 0);
    context.drawImage(tile, 0, 0, width, height);
    boundaryLine(context, boundary, samples.length, width, height);
  };
}

// bits[i] is the mean over [i * hop, (i + 1) * hop) seconds; `heldout` is the model's own held-out figure.
export function likelihoodPlot(samples, sampleRate, bits, hopSeconds, heldout) {
  return (context, width, height) => {
    const left = 40;
    const plotWidth = width - left - 8;
    const y = (value) => 8 + (1 - value / MAX_BITS) * (height - 16);
    const seconds = samples ? samples.length / sampleRate : bits.length * hopSeconds;
    context.save();
    context.translate(left, 0);
    if (samples) {
      context.save();
      context.translate(0, 8);
      envelope(context, samples, plotWidth, height - 16, COLOURS.faintWave);
      context.restore();
    }
    context.strokeStyle = COLOURS.grid;
    context.lineWidth = 1;
    for (let value = 0; value <= MAX_BITS; value += 2) {
      context.beginPath();
      context.moveTo(0, Math.round(y(value)) + 0.5);
      context.lineTo(plotWidth, Math.round(y(value)) + 0.5);
      context.stroke();
    }
    if (heldout !== undefined && heldout !== null) {
      context.strokeStyle = COLOURS.reference;
      context.setLineDash([6, 4]);
      context.beginPath();
      context.moveTo(0, y(heldout));
      context.lineTo(plotWidth, y(heldout));
      context.stroke();
      context.setLineDash([]);
    }
    context.strokeStyle = COLOURS.curve;
    context.lineWidth = 2;
    context.lineJoin = "round";
    context.beginPath();
    bits.forEach((value, i) => {
      const x = (((i + 0.5) * hopSeconds) / seconds) * plotWidth;
      const point = y(Math.min(MAX_BITS, value));
      if (i === 0) context.moveTo(x, point);
      else context.lineTo(x, point);
    });
    context.stroke();
    context.restore();
    for (let value = 0; value <= MAX_BITS; value += 2) label(context, String(value), left - 8, y(value) - 7, "right");
    if (heldout !== undefined && heldout !== null) label(context, `held-out ${heldout.toFixed(2)}`, width - 8, y(heldout) + 4, "right");
  };
}
