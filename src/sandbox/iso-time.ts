/** Times in responses are ISO-8601 in UTC with milliseconds, e.g. `2026-01-02T03:04:05.678Z`. */
export function isoTime(ms: number): string {
  return new Date(ms).toISOString();
}
