/**
 * A floor under V8's old-generation limit for the long-running commands. Node's TLS and HTTP/2
 * hand every 16 KiB of bulk data to JavaScript in a fresh ArrayBuffer; with V8's default sizing
 * a small heap (the gateway's and the connector's are ~11 MB) is then marked in full every
 * ~20 MB moved. On the tunnel bench that marking was about a fifth of the gateway's CPU (perf),
 * and with the floor the tunnel's CPU per MB fell by about a quarter (alternating runs, README).
 * V8 reads the flag only when the heap is set up, so it is given on node's command line (the
 * Dockerfile, npm start, the service examples), not set from here.
 */
export const HEAP_FLOOR_FLAG = '--initial-old-space-size=64';

export function heapFloorMissing(execArgv: readonly string[] = process.execArgv): boolean {
  return !execArgv.some((a) => a.startsWith('--initial-old-space-size=') || a.startsWith('--initial_old_space_size='));
}
