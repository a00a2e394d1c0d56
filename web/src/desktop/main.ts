/**
 * Desktop page: launches a session for /desktop/<appId> and runs it.
 */
import '../styles.css';
import { ApiError, getApps, launchApp, type LaunchResult } from '../api.js';
import { redirectToSignIn, requireUser, signOut } from '../auth.js';
import { byId, h } from '../dom.js';
import { statusMessage } from '../protocol/status-messages.js';
import { PurposePrompt } from './purpose-prompt.js';
import { StatusOverlay } from './status-overlay.js';
import { ClipboardPanel } from './clipboard-panel.js';
import { CredentialsPrompt } from './credentials-prompt.js';
import { FilesPanel } from './files-panel.js';
import { MicrophoneControl } from './microphone.js';
import { DesktopSession } from './session.js';
import { MAX_RECONNECT_ATTEMPTS, reconnectDelayMs } from '../protocol/reconnect-policy.js';
import { bindToolbar } from './toolbar.js';

function appIdFromPath(): string | null {
  const match = /^\/desktop\/([^/]+)\/?$/.exec(location.pathname);
  if (!match?.[1]) return null;
  try {
    return decodeURIComponent(match[1]);
  } catch {
    return null;
  }
}

const overlay = new StatusOverlay();
const desktop = byId('desktop');

async function showAppName(appId: string): Promise<void> {
  // Cosmetic only: the launch does not depend on it.
  try {
    const app = (await getApps()).find((a) => a.id === appId);
    if (!app) return;
    byId('app-name').textContent = app.name;
    document.title = `${app.name} · Drawbridge`;
  } catch {
    /* keep the placeholder name */
  }
}

function showLaunchRefusal(err: unknown): void {
  if (err instanceof ApiError && err.isSignedOut) return redirectToSignIn();
  if (err instanceof ApiError && err.code === 'access_denied') {
    // A policy decision: reconnecting would only be refused again.
    overlay.show('ended', { title: 'Access denied', message: err.message, canReconnect: false });
    return;
  }
  const message = err instanceof ApiError ? err.message : 'The session could not be started.';
  overlay.show('ended', {
    title: 'Could not start the session',
    message,
    detail: err instanceof ApiError && err.code ? `Error code: ${err.code}` : undefined,
    canReconnect: !(err instanceof ApiError) || err.status === 0 || err.status >= 500,
  });
}

/**
 * Gets a launch ticket, asking the user for a reason as often as the server
 * wants one. Resolves to null when the page has shown why not (or the user
 * gave up), so the caller just stops.
 */
/** The reason given at the first launch, reused when the page reconnects on its own. */
let givenPurpose: string | undefined;

async function launchWithPurpose(
  appId: string,
  csrfToken: string,
  isCancelled: () => boolean,
): Promise<LaunchResult | null> {
  let prompt: PurposePrompt | null = null;
  let purpose = givenPurpose;
  for (;;) {
    if (overlay.state !== 'reconnecting') overlay.show('connecting', { title: 'Connecting…', message: 'Starting your remote desktop session.' });
    try {
      const launch = await launchApp(appId, csrfToken, purpose);
      givenPurpose = purpose;
      return isCancelled() ? null : launch;
    } catch (err) {
      if (isCancelled()) return null;
      if (!(err instanceof ApiError && err.code === 'purpose_required')) {
        showLaunchRefusal(err);
        return null;
      }
      prompt ??= new PurposePrompt(overlay);
      const answer = await prompt.ask(err.message);
      if (answer === null || isCancelled()) return null;
      purpose = answer;
    }
  }
}

async function start(): Promise<void> {
  const appId = appIdFromPath();
  if (!appId) {
    overlay.show('ended', {
      title: 'No desktop selected',
      message: 'This address does not name a desktop. Go back to your desktops and pick one.',
      canReconnect: false,
    });
    return;
  }
  byId('app-name').textContent = appId;
  overlay.show('connecting', { title: 'Connecting…', message: 'Checking your sign-in.' });

  const me = await requireUser();
  if (!me) return;
  void showAppName(appId);

  const clipboard = new ClipboardPanel(
    () => session?.isConnected() ?? false,
    () => desktop.focus({ preventScroll: true }),
  );
  let session: DesktopSession | null = null;
  // Set when the user disconnects or signs out before the launch finished.
  let cancelled = false;

  bindToolbar({
    getSession: () => session,
    clipboard,
    focusDesktop: () => desktop.focus({ preventScroll: true }),
    signOut: async () => {
      cancelled = true;
      const content = { title: 'Signing out…', message: 'Closing your session and signing you out.' };
      if (session) session.end(content);
      else overlay.show('ended', content);
      await signOut(me.csrfToken);
    },
    disconnect: () => {
      const content = { title: 'Disconnected', message: 'You disconnected.', canReconnect: true };
      cancelled = true;
      if (session) session.end(content);
      else overlay.show('ended', content);
    },
  });

  const credentials = new CredentialsPrompt(overlay);
  const files = new FilesPanel(desktop);
  const microphone = new MicrophoneControl();
  let attempt = 0;
  const layoutSelect = byId<HTMLSelectElement>('layout');
  const LAYOUT_KEY = 'drawbridge.keyboardLayout';
  const storedLayout = (): string | undefined => {
    try {
      return localStorage.getItem(LAYOUT_KEY) ?? undefined;
    } catch {
      return undefined;
    }
  };
  // the user's own server keyboard layout, remembered in this browser; applies from the next connection
  const offerLayouts = (launch: LaunchResult): string | undefined => {
    const kb = launch.keyboard;
    if (!kb) return undefined;
    const chosen = storedLayout();
    const valid = chosen && kb.layouts.includes(chosen) ? chosen : undefined;
    if (!layoutSelect.options.length) {
      const label = (l: string) => (l === 'failsafe' ? 'Unicode (any layout)' : l);
      layoutSelect.append(h('option', { value: '' }, `Keyboard: ${kb.appLayout ? label(kb.appLayout) : 'desktop default'}`), ...kb.layouts.map((l) => h('option', { value: l }, label(l))));
      layoutSelect.addEventListener('change', () => {
        try {
          if (layoutSelect.value) localStorage.setItem(LAYOUT_KEY, layoutSelect.value);
          else localStorage.removeItem(LAYOUT_KEY);
        } catch {
          /* private mode: the choice lasts for this page only */
        }
        location.reload();
      });
    }
    layoutSelect.value = valid ?? '';
    layoutSelect.hidden = false;
    return valid;
  };
  const open = (launch: LaunchResult) => {
    const layout = offerLayouts(launch);
    if (launch.capabilities) files.setCapabilities(launch.capabilities);
    microphone.setAllowed(launch.capabilities?.microphone === true);
    session = new DesktopSession({
      files,
      microphone,
      container: desktop,
      overlay,
      clipboard,
      credentials,
      sizeLabel: byId('remote-size'),
      onConnected: () => (attempt = 0),
      onLost: () => void reconnect(),
    });
    session.connect(launch.token, launch.websocketPath, layout);
  };
  // The WebSocket dropped under a working session (network blip, sleep, a gateway restart): get a
  // new launch and connect again, with backoff; the RDP server puts the user back in their session.
  const reconnect = async (): Promise<void> => {
    attempt++;
    if (attempt > MAX_RECONNECT_ATTEMPTS || cancelled) {
      if (!cancelled) overlay.show('ended', { title: 'Connection lost', message: 'The connection to the remote desktop was lost and could not be restored. Reconnect when your network is back.', canReconnect: true });
      return;
    }
    const wait = reconnectDelayMs(attempt);
    overlay.show('reconnecting', { title: 'Reconnecting…', message: `The connection was lost. Reconnecting (attempt ${attempt} of ${MAX_RECONNECT_ATTEMPTS})…` });
    await new Promise((r) => setTimeout(r, wait));
    if (cancelled) return;
    let launch: LaunchResult | null;
    try {
      launch = await launchApp(appId, me.csrfToken, givenPurpose);
    } catch (err) {
      // offline or the gateway restarting: keep trying; a refusal with a reason ends it
      if (err instanceof ApiError && err.status > 0 && err.status < 500) return showLaunchRefusal(err);
      return reconnect();
    }
    if (!cancelled) open(launch);
  };

  const launch = await launchWithPurpose(appId, me.csrfToken, () => cancelled);
  if (!launch || cancelled) return;
  open(launch);
}

start().catch((err: unknown) => {
  const fallback = statusMessage(0x0200);
  overlay.show('ended', {
    title: fallback.title,
    message: err instanceof ApiError ? err.message : fallback.message,
    detail: err instanceof Error ? err.message : undefined,
  });
});
