// Microphone recording with MediaRecorder. Browsers only offer the microphone to secure pages (https, or
// http on localhost), so the page asks `available()` before offering the button.

export function available() {
  return Boolean(navigator.mediaDevices?.getUserMedia && window.MediaRecorder);
}

export class Recording {
  static async start() {
    const stream = await navigator.mediaDevices.getUserMedia({ audio: true });
    return new Recording(stream);
  }

  constructor(stream) {
    this.stream = stream;
    this.recorder = new MediaRecorder(stream);
    const parts = [];
    this.recorder.ondataavailable = (event) => parts.push(event.data);
    this.finished = new Promise((resolve) => {
      this.recorder.onstop = () => resolve(new Blob(parts, { type: this.recorder.mimeType }));
    });
    this.recorder.start();
  }

  // The recording in the browser's own container (WebM or Ogg with Opus, usually).
  async stop() {
    this.recorder.stop();
    this.stream.getTracks().forEach((track) => track.stop());
    return this.finished;
  }
}
