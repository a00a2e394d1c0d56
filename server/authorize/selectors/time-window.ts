import type { AccessRequest, SelectorResult } from '../access-request.js';
import { WEEKDAYS } from '../../config/policy-schema.js';

interface Window {
  timeZone: string;
  days: ReadonlyArray<(typeof WEEKDAYS)[number]>;
  from: string;
  to: string;
}

/**
 * Weekday and wall-clock time in the window's own zone, so "08:00–18:00 Europe/Berlin" means the
 * same on both sides of a DST change. A window whose `to` is before `from` runs past midnight and
 * belongs to the day it starts on.
 */
export function matchTimeWindow(w: Window, req: AccessRequest): SelectorResult {
  const parts = new Intl.DateTimeFormat('en-US', { timeZone: w.timeZone, weekday: 'short', hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }).formatToParts(req.now);
  const get = (t: string) => parts.find((p) => p.type === t)?.value ?? '';
  const day = WEEKDAYS.indexOf(get('weekday').toLowerCase() as (typeof WEEKDAYS)[number]);
  const minutes = Number(get('hour')) * 60 + Number(get('minute'));
  const toMin = (s: string) => Number(s.slice(0, 2)) * 60 + Number(s.slice(3));
  const from = toMin(w.from);
  const to = toMin(w.to);
  const on = (d: number) => w.days.includes(WEEKDAYS[(d + 7) % 7]!);
  const matched = from <= to ? on(day) && minutes >= from && minutes < to : (on(day) && minutes >= from) || (on(day - 1) && minutes < to);
  const local = `${WEEKDAYS[day]} ${get('hour')}:${get('minute')}`;
  return { matched, detail: `${w.days.join(',')} ${w.from}–${w.to} ${w.timeZone} (now ${local})` };
}
