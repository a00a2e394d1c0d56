/**
 * One launcher tile. A tile is a plain link to /desktop/<id> so it works
 * with middle-click, "open in new tab" and keyboard navigation for free.
 */
import type { AppIcon, AppSummary } from '../api.js';
import { h } from '../dom.js';

const ICONS: ReadonlySet<AppIcon> = new Set(['windows', 'linux', 'server', 'terminal']);

export function desktopHref(appId: string): string {
  return '/desktop/' + encodeURIComponent(appId);
}

export function renderTile(app: AppSummary): HTMLLIElement {
  // Unknown icon names fall back to a generic one rather than a broken image.
  const icon = ICONS.has(app.icon) ? app.icon : 'server';
  const unavailable = app.status === 'unavailable';
  const statusText = unavailable ? app.statusMessage || 'Currently unavailable' : 'Ready';
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
      h('span', { class: 'badge-text' }, statusText),
    ),
  );
  if (unavailable) link.title = statusText;
  return h('li', { class: 'tile-item' }, link);
}
