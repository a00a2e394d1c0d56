import type { Provider } from 'oidc-provider';
import type { Logger } from '../log/logger.js';

const RUNTIME_WARNING = 'oidc-provider WARNING: Unsupported runtime';

let loaded: Promise<typeof Provider> | undefined;

/**
 * Imports oidc-provider lazily. On import it prints "Unsupported runtime" straight to the console
 * on Node 20 (it wants 22+), which is harmless for a development IdP but would land in the middle of
 * our structured logs; so during the import that one message is routed to our logger instead.
 * Lazy also means production code that merely imports the dev-idp module never loads the library.
 */
export function loadOidcProvider(log: Logger): Promise<typeof Provider> {
  loaded ??= (async () => {
    // The only console access in the project: intercepting a library's own print, not logging.
    /* eslint-disable no-console */
    const original = console.warn;
    console.warn = (...args: unknown[]) => {
      const first = args[0];
      if (typeof first === 'string' && first.includes(RUNTIME_WARNING)) {
        log.debug({ node: process.version }, 'oidc-provider reports an unsupported runtime (expected on Node 20)');
        return;
      }
      original.apply(console, args);
    };
    try {
      const mod = await import('oidc-provider');
      return mod.Provider;
    } finally {
      console.warn = original;
    }
    /* eslint-enable no-console */
  })();
  return loaded;
}
