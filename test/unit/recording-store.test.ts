import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { RecordingStore } from '../../server/recording/recording-store.js';
import { DriveFolders } from '../../server/proxy/drive-folders.js';
import { formatDuration, playbackStep } from '../../web/src/protocol/playback.js';

const dirs: string[] = [];
const tmp = () => {
  const d = mkdtempSync(path.join(tmpdir(), 'dbx-rec-'));
  dirs.push(d);
  return d;
};
afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));

async function record(store: RecordingStore, id: string, bytes: number, at: Date) {
  const r = store.start({ id, user: 'tid:oid', username: 'ann@contoso.com', app: 'desk' }, at);
  r.tap!.write([Buffer.alloc(bytes, 0x61)]);
  r.end();
  const { setTimeout: wait } = await import('node:timers/promises');
  for (let i = 0; i < 50 && !store.list().some((e) => e.id === id); i++) await wait(10);
}

describe('recording store', () => {
  it('indexes finished recordings, newest first, and creates nothing until the first one', async () => {
    const dir = path.join(tmp(), 'recordings');
    const store = new RecordingStore(dir, { days: 30, maxTotalBytes: 1e9 });
    expect(existsSync(dir)).toBe(false);
    expect(store.list()).toEqual([]);
    await record(store, 'a', 100, new Date('2026-11-01T10:00:00Z'));
    await record(store, 'b', 200, new Date('2026-11-02T10:00:00Z'));
    expect(store.list().map((e) => [e.id, e.bytes])).toEqual([
      ['b', 200],
      ['a', 100],
    ]);
    expect(store.pathOf('a')).toMatch(/2026-11-01\/2026-11-01T10-00-00-000Z-ann@contoso\.com-desk-a\.guac$/);
    expect(store.pathOf('nope')).toBeUndefined();
  });

  it('retention removes recordings by age, then the oldest until under the size cap', async () => {
    const dir = tmp();
    const store = new RecordingStore(dir, { days: 30, maxTotalBytes: 2500 });
    await record(store, 'ancient', 10, new Date('2026-01-01T00:00:00Z'));
    await record(store, 'old', 1000, new Date('2026-11-10T00:00:00Z'));
    await record(store, 'mid', 1000, new Date('2026-11-15T00:00:00Z'));
    await record(store, 'new', 1000, new Date('2026-11-20T00:00:00Z'));
    const oldFile = store.pathOf('old')!;
    const removed = store.sweep(new Date('2026-11-22T00:00:00Z'));
    expect(removed.sort()).toEqual(['ancient', 'old']);
    expect(store.list().map((e) => e.id)).toEqual(['new', 'mid']);
    expect(existsSync(oldFile)).toBe(false);
    expect(store.sweep(new Date('2026-11-22T00:00:00Z'))).toEqual([]);
  });
});

describe('recordings written by guacd', () => {
  it('asks guacd for a file named by time, user and app under the day, and indexes it at the end', async () => {
    const dir = tmp();
    const missing: string[] = [];
    const store = new RecordingStore(dir, { days: 30, maxTotalBytes: 1e9 }, { writer: 'guacd', guacdDir: '/recordings', onMissing: (f) => missing.push(f) });
    const r = store.start({ id: 's1', user: 'tid:oid', username: "O'Brien/../x@contoso.com", app: 'desk' }, new Date('2026-11-22T08:00:00Z'));
    expect(r.tap).toBeUndefined();
    expect(r.params).toEqual({
      'recording-path': '/recordings/2026-11-22',
      'create-recording-path': 'true',
      'recording-name': '2026-11-22T08-00-00-000Z-O_Brien_.._x@contoso.com-desk-s1.guac',
    });
    // what guacd would write, through the same directory on the gateway's side
    writeFileSync(path.join(dir, '2026-11-22', r.params['recording-name']!), '4.sync,1.1;');
    r.end();
    expect(store.list()).toMatchObject([{ id: 's1', app: 'desk', bytes: 11 }]);
    expect(store.pathOf('s1')).toBe(path.join(dir, '2026-11-22', r.params['recording-name']!));
  });

  it('defaults guacd\'s directory to the gateway\'s, absolute; an abandoned session is not indexed', () => {
    const dir = tmp();
    const store = new RecordingStore(dir, { days: 30, maxTotalBytes: 1e9 }, { writer: 'guacd' });
    const r = store.start({ id: 's2', user: 'u', username: 'ann', app: 'desk' }, new Date('2026-11-22T08:00:00Z'));
    expect(r.params['recording-path']).toBe(path.join(path.resolve(dir), '2026-11-22'));
    r.abandon();
    r.end();
    expect(store.list()).toEqual([]);
  });
});

describe('drive folders', () => {
  it('one folder per user, by hash; partial-upload removal stays inside it', () => {
    const root = tmp();
    const folders = new DriveFolders(root, '/guacd/drives');
    const a = folders.forUser('tenant:alice');
    const b = folders.forUser('tenant:bob');
    expect(a.guacdPath).not.toBe(b.guacdPath);
    expect(a.guacdPath).toMatch(/^\/guacd\/drives\/[0-9a-f]{32}$/);
    expect(folders.removeUpload('tenant:alice', '/../../etc/passwd')).toBe(true); // normalised into the folder
    expect(folders.removeUpload('tenant:alice', '/')).toBe(false);
  });
});

describe('playback helpers', () => {
  it('formats durations and steps faster-than-real-time playback to the end', () => {
    expect([0, 999, 61_000, 3_725_000].map(formatDuration)).toEqual(['0:00', '0:01', '1:01', '1:02:05']);
    expect(playbackStep(0, 3000, 200, 4)).toBe(800);
    expect(playbackStep(2900, 3000, 200, 4)).toBe(3000);
    expect(playbackStep(3000, 3000, 200, 4)).toBeNull();
  });
});

describe('persistent sign-in sessions', () => {
  it('survive a restart with the same secret, encrypted on disk; another secret starts empty', async () => {
    const { BoundedSessionStore } = await import('../../server/authenticate/bounded-session-store.js');
    const { readFileSync } = await import('node:fs');
    const file = path.join(tmp(), 'sessions.bin');
    const secret = 'a'.repeat(40);
    const sess = { cookie: { expires: new Date(Date.now() + 3600_000) }, passport: { user: { key: 'tid:oid', username: 'ann@contoso.com' } } };
    const first = new BoundedSessionStore(10, Date.now, { file, secret });
    first.set('sid-1', sess as never);
    first.flush();
    expect(readFileSync(file).toString('latin1')).not.toContain('ann@contoso.com');
    const again = new BoundedSessionStore(10, Date.now, { file, secret });
    const got = await new Promise((r) => again.get('sid-1', (_e, v) => r(v)));
    expect(got).toMatchObject({ passport: { user: { username: 'ann@contoso.com' } } });
    const other = new BoundedSessionStore(10, Date.now, { file, secret: 'b'.repeat(40) });
    expect(other.size).toBe(0);
  });
});
