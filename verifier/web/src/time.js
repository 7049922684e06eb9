/** Times as the bundle and the Python verifier write them (UTC, whole seconds). */

/** The bundle's form: 2026-01-15T09:00:00Z */
export function formatTime(seconds) {
  return new Date(Number(seconds) * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
}
/** Python's datetime.isoformat() of a UTC time. */
export function isoOffset(seconds) {
  return formatTime(seconds).replace(/Z$/, '+00:00');
}
export function age(delta) {
  const s = Math.max(0, Math.floor(delta));
  if (s < 120) return `${s} s`;
  if (s < 7200) return `${Math.floor(s / 60)} min`;
  if (s < 172800) return `${Math.floor(s / 3600)} h`;
  return `${Math.floor(s / 86400)} days`;
}
export const pad6 = (n) => String(n).padStart(6, '0');
