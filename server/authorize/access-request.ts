/** Everything a policy may look at, gathered before evaluation so evaluation does no I/O. */
export interface AccessRequest {
  user: { email?: string; username: string; groups: readonly string[]; amr: readonly string[] };
  /** Client IP as trusted proxies report it; absent when unknown. */
  ip?: string;
  /** ISO country code from a trusted proxy's header; absent when unknown. */
  country?: string;
  now: Date;
  purpose?: string;
  /** When the user signed in (ms); per-app session durations count from here. */
  signedInAt?: number;
}

/** Outcome of one selector: matched or not, and why in words an admin can read. */
export interface SelectorResult {
  matched: boolean;
  detail: string;
}
