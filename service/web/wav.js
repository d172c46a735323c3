// WAV bytes <-> samples, for the three formats the service streams (model_core/wav_format.py): a RIFF
// header with the final sizes already in it, then little-endian samples, so audio can be decoded chunk by
// chunk while the response is still arriving.

const PCM = 1;
const FLOAT = 3;
const MULAW = 7;
const BYTES_PER_SAMPLE = { [PCM]: 2, [FLOAT]: 4, [MULAW]: 1 };

// ITU-T G.711 mu-law decoding of one byte, as the service's encoder assumes (wav_format._g711_values).
function g711(byte) {
  const inverted = ~byte & 0xff;
  const exponent = (inverted >> 4) & 7;
  const mantissa = inverted & 0x0f;
  const magnitude = (((mantissa << 3) + 0x84) << exponent) - 0x84;
  return (inverted & 0x80 ? -magnitude : magnitude) / 32768;
}

const MULAW_VALUES = Float32Array.from({ length: 256 }, (_, byte) => g711(byte));

function fourCC(view, offset) {
  return String.fromCharCode(...new Uint8Array(view.buffer, view.byteOffset + offset, 4));
}

// {tag, sampleRate, headerBytes, dataBytes} once the bytes reach the start of the data chunk; null before.
function parseHeader(bytes) {
  if (bytes.length < 12) return null;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (fourCC(view, 0) !== "RIFF" || fourCC(view, 8) !== "WAVE") throw new Error("the response is not a WAV file");
  let format = null;
  for (let offset = 12; offset + 8 <= bytes.length; ) {
    const id = fourCC(view, offset);
    const size = view.getUint32(offset + 4, true);
    if (id === "data") {
      if (!format) throw new Error("the WAV data chunk comes before its format chunk");
      return { ...format, headerBytes: offset + 8, dataBytes: size };
    }
    if (offset + 8 + size > bytes.length) return null;
    if (id === "fmt ") {
      const tag = view.getUint16(offset + 8, true);
      if (!(tag in BYTES_PER_SAMPLE) || view.getUint16(offset + 10, true) !== 1) {
        throw new Error(`unexpected WAV format ${tag}`);
      }
      format = { tag, sampleRate: view.getUint32(offset + 12, true) };
    }
    offset += 8 + size + (size % 2);
  }
  return null;
}

function decodeSamples(bytes, tag) {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out = new Float32Array(bytes.length / BYTES_PER_SAMPLE[tag]);
  for (let i = 0; i < out.length; i++) {
    if (tag === PCM) out[i] = view.getInt16(2 * i, true) / 32768;
    else if (tag === FLOAT) out[i] = view.getFloat32(4 * i, true);
    else out[i] = MULAW_VALUES[bytes[i]];
  }
  return out;
}

function concat(a, b) {
  if (a.length === 0) return b;
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

// Feed it the response's chunks as they come; each push returns the samples those bytes completed.
export class WavStreamDecoder {
  constructor() {
    this.pending = new Uint8Array(0);
    this.format = null;
    this.remaining = 0;
  }

  get sampleRate() {
    return this.format?.sampleRate ?? 0;
  }

  get totalSamples() {
    return this.format ? this.format.dataBytes / BYTES_PER_SAMPLE[this.format.tag] : 0;
  }

  push(chunk) {
    let bytes = concat(this.pending, chunk);
    if (!this.format) {
      this.format = parseHeader(bytes);
      if (!this.format) {
        this.pending = bytes;
        return new Float32Array(0);
      }
      this.remaining = this.format.dataBytes;
      bytes = bytes.subarray(this.format.headerBytes);
    }
    const width = BYTES_PER_SAMPLE[this.format.tag];
    const usable = Math.min(bytes.length, this.remaining);
    const whole = usable - (usable % width);
    this.remaining -= whole;
    // A sample split across two chunks waits for its other bytes; the pad byte after the data is dropped.
    this.pending = bytes.slice(whole, usable);
    return decodeSamples(bytes.subarray(0, whole), this.format.tag);
  }
}

// Mono 16-bit PCM WAV: what a microphone recording is uploaded as (MediaRecorder's WebM/Opus is not among
// the formats the service accepts; a WAV is, in every browser).
export function encodeWav16(samples, sampleRate) {
  const view = new DataView(new ArrayBuffer(44 + 2 * samples.length));
  const text = (offset, s) => [...s].forEach((c, i) => view.setUint8(offset + i, c.charCodeAt(0)));
  text(0, "RIFF");
  view.setUint32(4, 36 + 2 * samples.length, true);
  text(8, "WAVE");
  text(12, "fmt ");
  view.setUint32(16, 16, true);
  view.setUint16(20, PCM, true);
  view.setUint16(22, 1, true);
  view.setUint32(24, sampleRate, true);
  view.setUint32(28, 2 * sampleRate, true);
  view.setUint16(32, 2, true);
  view.setUint16(34, 16, true);
  text(36, "data");
  view.setUint32(40, 2 * samples.length, true);
  samples.forEach((x, i) => view.setInt16(44 + 2 * i, Math.round(32767 * Math.max(-1, Math.min(1, x))), true));
  return new Blob([view.buffer], { type: "audio/wav" });
}
