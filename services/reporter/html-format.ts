/**
 * Escaping and number formatting for the HTML report (html.ts, html-charts.ts). Pure. Every
 * string that came from the log or the target goes through `esc`.
 */
const ESC: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };

/** HTML-escapes text for element content and quoted attribute values (NUL, invalid in HTML, becomes U+FFFD). */
export function esc(s: unknown): string {
  return String(s).replace(/[&<>"'\u0000]/g, (c) => ESC[c] ?? '\uFFFD');
}

/** Escaped, with control characters shown as visible `\xNN` (for raw log lines). */
export function escRaw(s: string): string {
  return String(s)
    .split(/([\u0000-\u0008\u000b-\u001f\u007f])/)
    .map((part, i) => (i % 2 ? `<span class="ctl">\\x${part.charCodeAt(0).toString(16).padStart(2, '0')}</span>` : esc(part)))
    .join('');
}

/** A safe class-name fragment (state names come over the bus). */
export function cssWord(s: string): string {
  return s.toLowerCase().replace(/[^a-z0-9_-]/g, '');
}

export function num(v: unknown): number {
  const n = Number(v);
  return Number.isFinite(n) ? n : 0;
}

export function fmtInt(v: number): string {
  const n = Math.round(num(v));
  return (n < 0 ? '-' : '') + String(Math.abs(n)).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

export function fmtNum(v: number): string {
  const n = num(v);
  const a = Math.abs(n);
  if (a >= 1000) return fmtInt(n);
  if (a >= 100 || Number.isInteger(n)) return String(Math.round(n * 10) / 10);
  if (a >= 10) return n.toFixed(1);
  return String(Math.round(n * 100) / 100);
}

export function fmtMs(v: number): string {
  const n = num(v);
  if (n >= 10_000) return `${(n / 1000).toFixed(1)} s`;
  if (n >= 1000) return `${(n / 1000).toFixed(2)} s`;
  if (n >= 100) return `${n.toFixed(0)} ms`;
  if (n >= 10) return `${n.toFixed(1)} ms`;
  return `${n.toFixed(2)} ms`;
}

export function fmtDuration(s: number): string {
  const n = num(s);
  if (n < 60) return `${n.toFixed(1)} s`;
  const h = Math.floor(n / 3600);
  const m = Math.floor((n % 3600) / 60);
  const sec = Math.round(n % 60);
  return h > 0 ? `${h} h ${m} min ${sec} s` : `${m} min ${sec} s`;
}

/** Elapsed seconds as an axis label: 45s, 2:30, 1:05:00. */
export function fmtClock(s: number): string {
  const n = Math.round(s);
  if (n < 60) return `${n}s`;
  const h = Math.floor(n / 3600);
  const m = Math.floor((n % 3600) / 60);
  const sec = String(n % 60).padStart(2, '0');
  return h > 0 ? `${h}:${String(m).padStart(2, '0')}:${sec}` : `${m}:${sec}`;
}

export function pct(part: number, whole: number): string {
  if (!whole) return '0%';
  const p = (num(part) / num(whole)) * 100;
  return `${p >= 10 || p === 0 ? p.toFixed(0) : p.toFixed(p >= 1 ? 1 : 2)}%`;
}

export function reasons(r: Record<string, number>): string {
  const e = Object.entries(r);
  return e.length ? e.map(([k, v]) => `${k} ${fmtInt(v)}`).join(', ') : 'none';
}

// ---------------------------------------------------------------------------------------------
// Blocks

