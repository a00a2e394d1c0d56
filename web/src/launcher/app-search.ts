/**
 * The launcher's "Find a desktop" field: hides tiles that do not match as
 * the user types, and opens the tile when only one is left and Enter is
 * pressed.
 */
import type { AppSummary } from '../api.js';
import { byId } from '../dom.js';
import { matchesQuery, searchKey } from './app-filter.js';

interface Entry {
  key: string;
  item: HTMLLIElement;
  link: HTMLAnchorElement | null;
}

export function bindAppSearch(apps: readonly AppSummary[], items: readonly HTMLLIElement[]): void {
  const area = byId('app-search-area');
  const input = byId<HTMLInputElement>('app-search');
  const noMatch = byId('no-match');
  const summary = byId('search-summary');

  const entries: Entry[] = apps.map((app, i) => {
    const item = items[i]!;
    return { key: searchKey(app), item, link: item.querySelector('a') };
  });

  const visible = () => entries.filter((e) => !e.item.hidden);

  const apply = () => {
    const query = input.value;
    let shown = 0;
    for (const entry of entries) {
      const match = matchesQuery(entry.key, query);
      entry.item.hidden = !match;
      if (match) shown += 1;
    }
    const trimmed = query.trim();
    noMatch.hidden = shown > 0;
    noMatch.textContent = shown > 0 ? '' : `No desktop matches “${trimmed}”.`;
    // Only announce while a filter is active; an empty field is the page as loaded.
    if (trimmed === '') summary.textContent = '';
    else if (shown === 0) summary.textContent = noMatch.textContent;
    else if (shown === 1) summary.textContent = '1 desktop matches. Press Enter to open it.';
    else summary.textContent = `${shown} of ${entries.length} desktops match.`;
  };

  // "search" covers the clear button and Escape in browsers that have them.
  input.addEventListener('input', apply);
  input.addEventListener('search', apply);
  input.addEventListener('keydown', (e) => {
    if (e.key !== 'Enter' || e.isComposing) return;
    const shown = visible();
    if (shown.length !== 1 || !shown[0]!.link) return;
    e.preventDefault();
    // A click keeps Ctrl/Shift+Enter behaving like on the link itself.
    shown[0]!.link.dispatchEvent(
      new MouseEvent('click', {
        bubbles: true,
        cancelable: true,
        ctrlKey: e.ctrlKey,
        shiftKey: e.shiftKey,
        metaKey: e.metaKey,
        altKey: e.altKey,
      }),
    );
  });

  area.hidden = false;
  // The browser may restore a previous value on back/forward navigation.
  if (input.value) apply();
}
