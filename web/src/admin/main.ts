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

interface LiveSession {
  id: string;
  username?: string;
  user: string;
  app: string;
  startedAt: number;
  watching?: string;
}

const watch = byId('watch');
const watchDisplay = byId('watch-display');
let watching: { id: string; client: Guacamole.Client } | null = null;

function stopWatching(): void {
  watching?.client.disconnect();
  watching = null;
  watch.hidden = true;
  watch.dataset.state = 'idle';
}

/** Joins a live session read-only: the gateway drops anything this page would send. */
async function startWatching(s: LiveSession, csrfToken: string): Promise<void> {
  stopWatching();
  const ticket = await apiRequest<{ token: string; websocketPath: string }>(`/api/admin/sessions/${encodeURIComponent(s.id)}/watch`, { method: 'POST', csrfToken });
  const client = new Guacamole.Client(new Guacamole.WebSocketTunnel(ticket.websocketPath));
  watching = { id: s.id, client };
  watch.hidden = false;
  watch.dataset.state = 'connecting';
  watch.dataset.session = s.id;
  byId('watch-title').textContent = `Watching ${s.username ?? s.user} on ${s.app} (read-only)`;
  watchDisplay.replaceChildren(client.getDisplay().getElement());
  client.onstatechange = (state: number) => {
    if (state === Guacamole.Client.State.CONNECTED) watch.dataset.state = 'connected';
    if (state === Guacamole.Client.State.DISCONNECTED) watch.dataset.state = 'ended';
  };
  client.onerror = () => (watch.dataset.state = 'ended');
  // keys typed here are sent like any client would, and dropped by the gateway: watching is read-only
  const keyboard = new Guacamole.Keyboard(watchDisplay);
  keyboard.onkeydown = (k: number) => {
    client.sendKeyEvent(1, k);
    return true;
  };
  keyboard.onkeyup = (k: number) => client.sendKeyEvent(0, k);
  const w = Math.max(640, watchDisplay.clientWidth);
  client.connect(`token=${encodeURIComponent(ticket.token)}&width=${w}&height=${Math.round((w * 9) / 16)}&dpi=96`);
}

async function loadSessions(csrfToken: string): Promise<void> {
  const { sessions } = await apiRequest<{ sessions: LiveSession[] }>('/api/admin/sessions');
  const body = byId<HTMLTableElement>('sessions').tBodies[0]!;
  body.replaceChildren(
    ...sessions
      .filter((s) => !s.watching)
      .map((s) => {
        const button = h('button', { class: 'button button-quiet', type: 'button' }, 'Watch');
        button.addEventListener('click', () => void startWatching(s, csrfToken));
        return h('tr', { 'data-id': s.id }, h('td', {}, new Date(s.startedAt).toLocaleString()), h('td', {}, s.username ?? s.user), h('td', {}, s.app), h('td', {}, button));
      }),
  );
  byId('sessions').dataset.loaded = String(sessions.length);
}

async function start(): Promise<void> {
  const me = await requireUser();
  if (!me) return;
  byId('watch-stop').addEventListener('click', stopWatching);
  byId('end-session').addEventListener('click', () => {
    const target = watching?.id;
    const reason = byId<HTMLInputElement>('end-reason').value.trim();
    if (!target) return;
    void apiRequest(`/api/admin/sessions/${encodeURIComponent(target)}/end`, { method: 'POST', csrfToken: me.csrfToken, body: { reason } }).then(
      () => {
        stopWatching();
        void loadSessions(me.csrfToken);
      },
      (err: unknown) => (byId('watch-title').textContent = err instanceof ApiError ? err.message : 'The session could not be ended.'),
    );
  });
  try {
    await loadSessions(me.csrfToken);
  } catch (err) {
    if (err instanceof ApiError && err.isSignedOut) return redirectToSignIn();
    status.textContent = err instanceof ApiError ? err.message : 'The sessions could not be loaded.';
    status.dataset.error = err instanceof ApiError ? err.code : 'error';
    return;
  }
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
