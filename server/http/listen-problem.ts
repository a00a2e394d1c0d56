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
