/**
 * Apps whose `via` names no usable tunnel. Not a config error: the tunnel may be created after the
 * config is written. But a typo would otherwise look exactly like a connector that is down.
 */
export function unknownTunnelWarnings(apps: ReadonlyArray<{ id: string; via?: string }>, tunnels: ReadonlyArray<{ name: string; revokedAt?: string }>): string[] {
  const out: string[] = [];
  apps.forEach((a, i) => {
    if (!a.via) return;
    const found = tunnels.filter((t) => t.name === a.via);
    if (found.some((t) => !t.revokedAt)) return;
    const why = found.length ? `the tunnel "${a.via}" is revoked` : `there is no tunnel named "${a.via}"`;
    out.push(`apps[${i}].via: ${why}; desktop "${a.id}" stays offline until a tunnel of that name is created (drawbridge tunnel create ${a.via} -c <this config>) and its connector connects`);
  });
  return out;
}
