/**
 * The user's microphone into the desktop, when the policy allows it (the
 * gateway refuses the audio stream otherwise). Off until the user turns it on:
 * the browser asks for permission at that moment, not when the page loads.
 */
import Guacamole from 'guacamole-common-js';
import { byId } from '../dom.js';

const MIMETYPE = 'audio/L16;rate=44100,channels=1';

export class MicrophoneControl {
  private readonly button = byId<HTMLButtonElement>('mic');
  private client: Guacamole.Client | null = null;
  private recorder: Guacamole.AudioRecorder | null = null;
  private stream: Guacamole.OutputStream | null = null;

  constructor() {
    this.button.addEventListener('click', () => (this.recorder ? this.stop() : this.start()));
  }

  setAllowed(allowed: boolean): void {
    this.button.hidden = !allowed;
    if (!allowed) this.stop();
  }

  attach(client: Guacamole.Client): void {
    this.stop();
    this.client = client;
  }

  private start(): void {
    if (!this.client) return;
    const stream = this.client.createAudioStream(MIMETYPE);
    const recorder = Guacamole.AudioRecorder.getInstance(stream, MIMETYPE);
    if (!recorder) {
      stream.sendEnd();
      this.button.title = 'This browser cannot record audio';
      return;
    }
    recorder.onclose = () => this.stopped();
    recorder.onerror = () => this.stopped();
    this.stream = stream;
    this.recorder = recorder;
    this.button.setAttribute('aria-pressed', 'true');
    this.button.textContent = 'Mic on';
  }

  private stop(): void {
    this.stream?.sendEnd();
    this.stopped();
  }

  private stopped(): void {
    this.recorder = null;
    this.stream = null;
    this.button.setAttribute('aria-pressed', 'false');
    this.button.textContent = 'Mic';
  }
}
