/**
 * Launcher page: who am I, which desktops can I open.
 */
import '../styles.css';
import { ApiError, getApps, getAppStatuses } from '../api.js';
import { requireUser, signOut, redirectToSignIn } from '../auth.js';
import { byId } from '../dom.js';
import { bindAppSearch } from './app-search.js';
import { renderTile, updateTileStatus } from './app-tile.js';

/** Tiles follow tunnels and guacd going down and coming back. */
const STATUS_POLL_MS = 5000;

function pollStatuses(items: Map<string, HTMLLIElement>): void {
  const tick = async () => {
    if (document.visibilityState === 'visible') {
      try {
        for (const s of await getAppStatuses()) {
          const item = items.get(s.id);
          if (item) updateTileStatus(item, s);
        }
      } catch (err) {
        if (err instanceof ApiError && err.isSignedOut) return redirectToSignIn();
        // a failed poll is retried at the next tick; the tiles keep their last known state
      }
    }
    setTimeout(() => void tick(), STATUS_POLL_MS);
  };
  setTimeout(() => void tick(), STATUS_POLL_MS);
}

const statusLine = byId('launcher-status');
const list = byId<HTMLUListElement>('app-list');
const empty = byId('empty-state');
const userName = byId('user-name');
const signOutButton = byId<HTMLButtonElement>('sign-out');

function showError(err: unknown): void {
  const message = err instanceof ApiError ? err.message : 'Something went wrong while loading your desktops.';
  statusLine.textContent = `${message} Reload the page to try again.`;
  statusLine.classList.add('launcher-status-error');
  statusLine.hidden = false;
}

async function start(): Promise<void> {
  const me = await requireUser();
  if (!me) return;

  userName.textContent = me.user.name || me.user.username;
  if (me.user.email) userName.title = me.user.email;
  signOutButton.disabled = false;
  signOutButton.addEventListener('click', () => {
    signOutButton.disabled = true;
    signOut(me.csrfToken).catch((err: unknown) => {
      signOutButton.disabled = false;
      showError(err);
    });
  });

  let apps;
  try {
    apps = await getApps();
  } catch (err) {
    if (err instanceof ApiError && err.isSignedOut) return redirectToSignIn();
    throw err;
  }

  statusLine.hidden = true;
  if (apps.length === 0) {
    empty.hidden = false;
    document.body.dataset.loaded = 'true';
    return;
  }
  const items = apps.map(renderTile);
  list.replaceChildren(...items);
  list.hidden = false;
  bindAppSearch(apps, items);
  pollStatuses(new Map(apps.map((a, i) => [a.id, items[i]!])));
  document.body.dataset.loaded = 'true';
}

start().catch(showError);
