/** Pure helpers for the recording player. */

export function formatDuration(ms: number): string {
  const total = Math.max(0, Math.round(ms / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = String(total % 60).padStart(2, '0');
  return h ? `${h}:${String(m).padStart(2, '0')}:${s}` : `${m}:${s}`;
}

/** Where faster-than-real-time playback goes next, or null at the end. */
export function playbackStep(position: number, duration: number, tickMs: number, rate: number): number | null {
  if (position >= duration) return null;
  return Math.min(duration, position + tickMs * rate);
}
