/**
 * One launcher tile. A tile is a plain link to /desktop/<id> so it works
 * with middle-click, "open in new tab" and keyboard navigation for free.
 */
import type { AppIcon, AppStatus, AppSummary } from '../api.js';
import { h } from '../dom.js';

const ICONS: ReadonlySet<AppIcon> = new Set(['windows', 'linux', 'server', 'terminal']);

export function desktopHref(appId: string): string {
  return '/desktop/' + encodeURIComponent(appId);
}

function statusText(app: AppStatus): string {
  if (app.status === 'ready') return 'Ready';
  return app.statusMessage || (app.status === 'offline' ? 'Offline' : 'Currently unavailable');
}

export function renderTile(app: AppSummary): HTMLLIElement {
  // Unknown icon names fall back to a generic one rather than a broken image.
  const icon = ICONS.has(app.icon) ? app.icon : 'server';
  const unavailable = app.status !== 'ready';
  const text = statusText(app);
  const statusId = `tile-status-${app.id}`;

  const link = h(
    'a',
    {
      class: unavailable ? 'tile tile-unavailable' : 'tile',
      href: desktopHref(app.id),
      'data-app-id': app.id,
      'data-status': app.status,
      'data-needs-purpose': app.needsPurpose ? 'true' : undefined,
      'aria-describedby': statusId,
    },
    h('img', { class: 'tile-icon', src: `/icons/${icon}.svg`, alt: '', width: 48, height: 48 }),
    h(
      'span',
      { class: 'tile-text' },
      h('span', { class: 'tile-name' }, app.name),
      app.description ? h('span', { class: 'tile-description' }, app.description) : null,
      // Said up front so the question after the click is no surprise.
      app.needsPurpose ? h('span', { class: 'tile-note' }, 'Asks for a reason') : null,
    ),
    h(
      'span',
      { class: 'badge', id: statusId, 'data-status': app.status },
      h('span', { class: 'badge-dot', 'aria-hidden': 'true' }),
      h('span', { class: 'badge-text' }, text),
    ),
  );
  if (unavailable) link.title = text;
  return h('li', { class: 'tile-item' }, link);
}

/** Follows a status change (a tunnel going down or up) without rebuilding the tile. */
export function updateTileStatus(item: HTMLLIElement, app: AppStatus): void {
  const link = item.querySelector<HTMLAnchorElement>('a.tile');
  const badge = item.querySelector<HTMLElement>('.badge');
  const label = item.querySelector<HTMLElement>('.badge-text');
  if (!link || !badge || !label || link.dataset.status === app.status) return;
  const text = statusText(app);
  link.dataset.status = app.status;
  badge.dataset.status = app.status;
  label.textContent = text;
  link.classList.toggle('tile-unavailable', app.status !== 'ready');
  if (app.status === 'ready') link.removeAttribute('title');
  else link.title = text;
}
