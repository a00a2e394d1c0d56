import { ConfigError } from '../config/load-config.js';

/**
 * Why a listen failed, in words an admin can act on: a second instance with the same config on one
 * machine, or an address copied from another machine, should not surface as a bare errno.
 */
export function listenProblem(at: string, err: unknown): string {
  const code = (err as NodeJS.ErrnoException).code;
  switch (code) {
    case 'EADDRINUSE':
      return `${at} is already in use (another instance on this machine? give each its own port)`;
    case 'EADDRNOTAVAIL':
      return `${at}: this machine has no such address`;
    case 'EACCES':
      return `${at}: not permitted (ports below 1024 need privileges)`;
    default:
      return `${at}: cannot listen (${code ?? String(err)})`;
  }
}

/**
 * An address another process holds: not a mistake in the config (that process may be an old
 * instance still stopping), so it exits 1, which service managers retry, and not 2.
 */
export class AddressInUse extends Error {
  override readonly name = 'AddressInUse';
  constructor(
    readonly option: string,
    message: string,
  ) {
    super(`${option}: ${message}`);
  }
}

/** A failed listen as what to throw: AddressInUse when the address is taken, else a ConfigError. */
export function listenFailure(source: string, option: string, at: string, err: unknown): Error {
  const message = listenProblem(at, err);
  if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') return new AddressInUse(option, message);
  return new ConfigError(source, [{ path: option, message }]);
}
