/**
 * Matching for the launcher's search field. No DOM here, so the rules can be
 * tested on their own.
 */
import type { AppSummary } from '../api.js';

/**
 * Folds case and accents so "ecole" finds "École": NFD splits letters from
 * their combining marks, which are then dropped.
 */
export function foldForSearch(text: string): string {
  return text.normalize('NFD').replace(/\p{M}/gu, '').toLowerCase();
}

/** The folded text a query is matched against. */
export function searchKey(app: Pick<AppSummary, 'name' | 'description'>): string {
  return foldForSearch(`${app.name}\n${app.description ?? ''}`);
}

/**
 * Every word of the query must occur somewhere in the name or description,
 * so "win lab" finds "Windows 11 (lab)". An empty query matches everything.
 */
export function matchesQuery(key: string, query: string): boolean {
  const words = foldForSearch(query).split(/\s+/).filter(Boolean);
  return words.every((word) => key.includes(word));
}
