import type { Prepared, Selector } from '../access-request.js';
import { WEEKDAYS } from '../../config/policy-schema.js';

interface Window {
  timeZone: string;
  days: ReadonlyArray<(typeof WEEKDAYS)[number]>;
  from: string;
  to: string;
}

const formats = new Map<string, Intl.DateTimeFormat>();

/** Building a formatter costs far more than using one; there are only so many time zones. */
function formatFor(timeZone: string): Intl.DateTimeFormat {
  let f = formats.get(timeZone);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', { timeZone, weekday: 'short', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' });
    formats.set(timeZone, f);
  }
  return f;
}

interface Local {
  day: number;
  minutes: number;
  text: string;
}
const lastLocal = new Map<string, { minute: number; local: Local }>();

/** Weekday and minute of the day in `timeZone`; windows are minute-grained, so one lookup per zone per minute. */
function localTime(timeZone: string, now: Date): Local {
  const minute = Math.floor(now.getTime() / 60_000);
  const hit = lastLocal.get(timeZone);
  if (hit && hit.minute === minute) return hit.local;
  const parts = formatFor(timeZone).formatToParts(now);
  const get = (t: string) => parts.find((p) => p.type === t)?.value ?? '';
  const day = WEEKDAYS.indexOf(get('weekday').toLowerCase() as (typeof WEEKDAYS)[number]);
  const local = { day, minutes: Number(get('hour')) * 60 + Number(get('minute')), text: `${WEEKDAYS[day]} ${get('hour')}:${get('minute')}` };
  lastLocal.set(timeZone, { minute, local });
  return local;
}

/**
 * Weekday and wall-clock time in the window's own zone, so "08:00–18:00 Europe/Berlin" means the
 * same on both sides of a DST change. A window whose `to` is before `from` runs past midnight and
 * belongs to the day it starts on.
 */
function inWindow(w: Window, p: Prepared): boolean {
  const { day, minutes } = localTime(w.timeZone, p.now);
  const toMin = (s: string) => Number(s.slice(0, 2)) * 60 + Number(s.slice(3));
  const from = toMin(w.from);
  const to = toMin(w.to);
  const on = (d: number) => w.days.includes(WEEKDAYS[(d + 7) % 7]!);
  return from <= to ? on(day) && minutes >= from && minutes < to : (on(day) && minutes >= from) || (on(day - 1) && minutes < to);
}

export const timeWindow: Selector<{ timeWindow: Window }> = {
  test: (r, p) => inWindow(r.timeWindow, p),
  describe: ({ timeWindow: w }, p) => `${w.days.join(',')} ${w.from}–${w.to} ${w.timeZone} (now ${localTime(w.timeZone, p.now).text})`,
};
