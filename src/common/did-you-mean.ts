import { closest, distance } from 'fastest-levenshtein';

/**
 * A name is taken for a typo of a known one when this few edits apart, and fewer than a third of
 * its length: `e_mail` for `email`, not `city` for `company`.
 */
const MAX_TYPO_EDITS = 3;

/** The known name `name` was most likely meant to be, or undefined when none is close enough. */
export function closestName(name: string, known: Iterable<string>): string | undefined {
  const candidates = [...known];
  if (candidates.length === 0) return undefined;
  const best = closest(name, candidates);
  const edits = distance(name.toLowerCase(), best.toLowerCase());
  return edits > 0 && edits <= MAX_TYPO_EDITS && edits * 3 <= Math.max(name.length, best.length) ? best : undefined;
}

/** ` (did you mean "x"?)` when a known name is close to `name`, else the empty string. */
export function didYouMean(name: string, known: Iterable<string>): string {
  const best = closestName(name, known);
  return best === undefined ? '' : ` (did you mean "${best}"?)`;
}
