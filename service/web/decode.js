// The browser's own decoder, for pictures of audio: uploads are still sent as they are and decoded by the
// server, which accepts formats some browsers cannot read (AU, CAF, Wave64...).

// Mono samples at `sampleRate` (the model's rate, so plots line up with what the server returns).
export async function decodeAudio(blob, sampleRate) {
  const context = new OfflineAudioContext(1, 1, sampleRate);
  const buffer = await context.decodeAudioData(await blob.arrayBuffer());
  const mono = new Float32Array(buffer.length);
  for (let channel = 0; channel < buffer.numberOfChannels; channel++) {
    buffer.getChannelData(channel).forEach((x, i) => (mono[i] += x / buffer.numberOfChannels));
  }
  return mono;
}
