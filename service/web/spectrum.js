// Short-time spectra for the spectrogram: a 256-point FFT (32 ms at 8 kHz, enough to resolve speech's
// harmonics) under a Hann window, one frame per pixel column, in decibels.

const FRAME = 256;

const HANN = Float32Array.from({ length: FRAME }, (_, i) => 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / FRAME));

// In-place iterative radix-2 FFT of (re, im), length a power of two.
function fft(re, im) {
  const n = re.length;
  for (let i = 1, j = 0; i < n; i++) {
    let bit = n >> 1;
    for (; j & bit; bit >>= 1) j ^= bit;
    j ^= bit;
    if (i < j) {
      [re[i], re[j]] = [re[j], re[i]];
      [im[i], im[j]] = [im[j], im[i]];
    }
  }
  for (let size = 2; size <= n; size <<= 1) {
    const step = (-2 * Math.PI) / size;
    for (let start = 0; start < n; start += size) {
      for (let k = 0; k < size / 2; k++) {
        const cos = Math.cos(step * k);
        const sin = Math.sin(step * k);
        const a = start + k;
        const b = a + size / 2;
        const tre = re[b] * cos - im[b] * sin;
        const tim = re[b] * sin + im[b] * cos;
        re[b] = re[a] - tre;
        im[b] = im[a] - tim;
        re[a] += tre;
        im[a] += tim;
      }
    }
  }
}

// {columns, bins, decibels}: decibels[column * bins + bin] for frames centred at evenly spaced samples.
export function spectrogram(samples, columns) {
  const bins = FRAME / 2;
  const decibels = new Float32Array(columns * bins);
  const re = new Float32Array(FRAME);
  const im = new Float32Array(FRAME);
  for (let column = 0; column < columns; column++) {
    const centre = Math.round(((column + 0.5) * samples.length) / columns);
    for (let i = 0; i < FRAME; i++) {
      const index = centre - FRAME / 2 + i;
      re[i] = index >= 0 && index < samples.length ? samples[index] * HANN[i] : 0;
      im[i] = 0;
    }
    fft(re, im);
    for (let bin = 0; bin < bins; bin++) {
      decibels[column * bins + bin] = 10 * Math.log10(re[bin] ** 2 + im[bin] ** 2 + 1e-12);
    }
  }
  return { columns, bins, decibels };
}
