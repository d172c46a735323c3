// What the page's parts share: the server's /info, the seed in use, and the last generated result.

export const page = {
  info: null,
  // blob: what is uploaded (null: silence); samples: the browser's decoding at the model's rate, for plots
  // (null when this browser cannot decode the format; the server still can).
  seed: { name: null, blob: null, samples: new Float32Array(0) },
  // {blob, url, name, samples}: the WAV as received, its object URL, and the decoded continuation.
  result: null,
};
