/**
 * Admin page: the session recordings the gateway wrote, played back with
 * guacamole-common-js's SessionRecording (seek, play/pause, speed).
 */
import '../styles.css';
import Guacamole from 'guacamole-common-js';
import { ApiError, apiRequest } from '../api.js';
import { redirectToSignIn, requireUser } from '../auth.js';
import { byId, h } from '../dom.js';
import { formatDuration, playbackStep } from '../protocol/playback.js';

interface Recording {
  id: string;
  username: string;
  app: string;
  startedAt: string;
  durationMs?: number;
  bytes: number;
}

const status = byId('admin-status');
const table = byId<HTMLTableElement>('recordings');
const player = byId('player');
const display = byId('player-display');
const playButton = byId<HTMLButtonElement>('play');
const seek = byId<HTMLInputElement>('seek');
const position = byId('position');
const speed = byId<HTMLSelectElement>('speed');

let current: Guacamole.SessionRecording | null = null;
let fastTimer: number | undefined;

function showPosition(rec: Guacamole.SessionRecording): void {
  seek.value = String(rec.getPosition());
  position.textContent = `${formatDuration(rec.getPosition())} / ${formatDuration(rec.getDuration())}`;
}

function stopFast(): void {
  window.clearInterval(fastTimer);
  fastTimer = undefined;
}

/** Above 1×, playback advances by seeking ahead on a timer (SessionRecording plays in real time only). */
function play(rec: Guacamole.SessionRecording): void {
  const rate = Number(speed.value);
  stopFast();
  player.dataset.state = 'playing';
  playButton.textContent = 'Pause';
  if (rate === 1) return rec.play();
  rec.pause();
  const tick = 200;
  fastTimer = window.setInterval(() => {
    const next = playbackStep(rec.getPosition(), rec.getDuration(), tick, rate);
    if (next === null) {
      stopFast();
      player.dataset.state = 'paused';
      playButton.textContent = 'Play';
      return;
    }
    rec.seek(next, () => showPosition(rec));
  }, tick);
}

function pause(rec: Guacamole.SessionRecording): void {
  stopFast();
  rec.pause();
  player.dataset.state = 'paused';
  playButton.textContent = 'Play';
}

async function load(r: Recording): Promise<void> {
  stopFast();
  current?.pause();
  player.hidden = false;
  player.dataset.state = 'loading';
  player.dataset.recording = r.id;
  byId('player-title').textContent = `${r.username} · ${r.app} · ${new Date(r.startedAt).toLocaleString()}`;
  for (const c of [playButton, seek, speed]) c.disabled = true;
  // Read through a static HTTP tunnel: guacamole-common-js 1.5.0's SessionRecording never assigns
  // a Blob source (its parseBlob gets undefined), while a tunnel source streams and works.
  const url = `/api/admin/recordings/${encodeURIComponent(r.id)}/file`;
  const head = await fetch(url, { method: 'HEAD', credentials: 'same-origin', cache: 'no-store' });
  if (!head.ok) {
    player.dataset.state = 'error';
    byId('player-title').textContent = `This recording could not be loaded (HTTP ${head.status}).`;
    return;
  }
  const rec = new Guacamole.SessionRecording(new Guacamole.StaticHTTPTunnel(url));
  current = rec;
  const element = rec.getDisplay().getElement();
  display.replaceChildren(element);
  rec.onseek = () => showPosition(rec);
  rec.onpause = () => {
    // seeking pauses too; only a pause during playback changes the state
    if (fastTimer === undefined && player.dataset.state === 'playing') {
      player.dataset.state = 'paused';
      playButton.textContent = 'Play';
    }
  };
  rec.onload = () => {
    seek.max = String(rec.getDuration());
    for (const c of [playButton, seek, speed]) c.disabled = false;
    player.dataset.state = 'ready';
    showPosition(rec);
    // show the first frame rather than an empty box
    rec.seek(0, () => showPosition(rec));
  };
  rec.onerror = (message: string) => {
    player.dataset.state = 'error';
    byId('player-title').textContent = `This recording could not be played: ${message}`;
  };
  rec.connect();
}

playButton.addEventListener('click', () => {
  if (!current) return;
  if (player.dataset.state === 'playing') pause(current);
  else play(current);
});
seek.addEventListener('input', () => {
  if (!current) return;
  pause(current);
  const requested = seek.value;
  current.seek(Number(requested), () => {
    if (current) showPosition(current);
    // what was asked for (the display shows the nearest frame at or before it)
    player.dataset.seeked = requested;
  });
});
speed.addEventListener('change', () => {
  if (current && player.dataset.state === 'playing') play(current);
});

async function start(): Promise<void> {
  const me = await requireUser();
  if (!me) return;
  let recordings: Recording[];
  try {
    recordings = (await apiRequest<{ recordings: Recording[] }>('/api/admin/recordings')).recordings;
  } catch (err) {
    if (err instanceof ApiError && err.isSignedOut) return redirectToSignIn();
    status.textContent = err instanceof ApiError ? err.message : 'The recordings could not be loaded.';
    status.dataset.error = err instanceof ApiError ? err.code : 'error';
    return;
  }
  status.hidden = true;
  if (recordings.length === 0) byId('no-recordings').hidden = false;
  const body = table.tBodies[0]!;
  body.replaceChildren(
    ...recordings.map((r) => {
      const button = h('button', { class: 'button button-quiet', type: 'button' }, 'Play');
      button.addEventListener('click', () => void load(r));
      return h(
        'tr',
        { 'data-id': r.id },
        h('td', {}, new Date(r.startedAt).toLocaleString()),
        h('td', {}, r.username),
        h('td', {}, r.app),
        h('td', {}, formatDuration(r.durationMs ?? 0)),
        h('td', {}, `${(r.bytes / 1024).toFixed(0)} KB`),
        h('td', {}, button),
      );
    }),
  );
  table.hidden = recordings.length === 0;
  document.body.dataset.loaded = 'true';
}

void start();
