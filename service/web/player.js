// Plays samples as they arrive: each decoded chunk becomes an AudioBuffer scheduled right after the previous
// one on the AudioContext's clock, so playback starts with the first chunk, not the last byte.

// Head start before the first chunk plays: absorbs jitter between network chunks without audible delay.
const LEAD_SECONDS = 0.15;

export class StreamPlayer {
  constructor(context, sampleRate) {
    this.context = context;
    this.sampleRate = sampleRate;
    this.sources = new Set();
    this.startedAt = null;
    this.nextTime = 0;
    this.scheduledSeconds = 0;
  }

  push(samples) {
    if (samples.length === 0) return;
    const buffer = this.context.createBuffer(1, samples.length, this.sampleRate);
    buffer.copyToChannel(samples, 0);
    const source = this.context.createBufferSource();
    source.buffer = buffer;
    source.connect(this.context.destination);
    const now = this.context.currentTime;
    if (this.startedAt === null) {
      this.startedAt = this.nextTime = now + LEAD_SECONDS;
    } else if (this.nextTime < now) {
      // The network fell behind playback: resume from now (a gap) rather than play in the past (a skip).
      this.startedAt += now - this.nextTime;
      this.nextTime = now;
    }
    source.start(this.nextTime);
    this.nextTime += buffer.duration;
    this.scheduledSeconds += buffer.duration;
    this.sources.add(source);
    source.onended = () => this.sources.delete(source);
  }

  // Seconds of audio heard so far.
  get playedSeconds() {
    if (this.startedAt === null) return 0;
    return Math.min(this.scheduledSeconds, Math.max(0, this.context.currentTime - this.startedAt));
  }

  get playing() {
    return this.sources.size > 0;
  }

  stop() {
    for (const source of this.sources) source.stop();
    this.sources.clear();
  }
}
