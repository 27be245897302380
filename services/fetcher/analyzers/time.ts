/**
 * Log timestamps → epoch ms. Pure (the CLF parse's cache, below, changes no result) and without
 * Date objects: the Apache/nginx and ISO forms are read digit by digit and turned into a day
 * number with Hinnant's days-from-civil, so no Date object or Date.parse runs per line. Every function returns NaN when the input is not its
 * format (or names an impossible date), never throws.
 */

const MS_PER_MIN = 60_000;
const MS_PER_DAY = 86_400_000;

/** Two ASCII digits at `i` as a number, or -1 when either is not a digit. */
function d2(s: string, i: number): number {
  const a = s.charCodeAt(i) - 48;
  const b = s.charCodeAt(i + 1) - 48;
  // Written as positive range checks so a read past the end (charCodeAt → NaN) also fails.
  return a >= 0 && a <= 9 && b >= 0 && b <= 9 ? a * 10 + b : -1;
}

function d4(s: string, i: number): number {
  const hi = d2(s, i);
  const lo = d2(s, i + 2);
  return hi < 0 || lo < 0 ? -1 : hi * 100 + lo;
}

const isLeap = (y: number): boolean => (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
const MONTH_DAYS = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

/** Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant, `days_from_civil`). */
export function daysFromCivil(y: number, m: number, d: number): number {
  y -= m <= 2 ? 1 : 0;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400; // [0, 399]
  const doy = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1; // [0, 365]
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy; // [0, 146096]
  return era * 146097 + doe - 719468;
}

/** UTC epoch ms of calendar fields, or NaN when a field is out of range (no silent roll-over). */
export function epochFromFields(y: number, mo: number, d: number, h: number, mi: number, s: number, ms: number): number {
  if (y < 0 || mo < 1 || mo > 12 || d < 1 || h < 0 || h > 23 || mi < 0 || mi > 59 || s < 0 || s > 60 || ms < 0) return NaN;
  const dim = mo === 2 && isLeap(y) ? 29 : MONTH_DAYS[mo - 1];
  if (d > dim) return NaN;
  // A leap second (:60) lands on the next second's instant, as Date.parse does for ISO.
  return daysFromCivil(y, mo, d) * MS_PER_DAY + ((h * 60 + mi) * 60 + s) * 1000 + ms;
}

// Three lower-cased letters packed in an int, so the month lookup allocates no substring.
const monthKey = (a: number, b: number, c: number): number => ((a | 0x20) << 16) | ((b | 0x20) << 8) | (c | 0x20);
const MONTHS = new Map<number, number>(
  ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'].map((m, i) => [
    monthKey(m.charCodeAt(0), m.charCodeAt(1), m.charCodeAt(2)),
    i + 1,
  ]),
);

/** `+0130` / `-0800` (or `+01:30`) at `i` → offset in minutes east of UTC, or NaN. */
function zoneMinutes(s: string, i: number): number {
  const sign = s.charCodeAt(i);
  if (sign !== 43 /* + */ && sign !== 45 /* - */) return NaN;
  const hh = d2(s, i + 1);
  const colon = s.charCodeAt(i + 3) === 58 ? 1 : 0;
  const mm = i + 3 === s.length ? 0 : d2(s, i + 3 + colon); // `+01` alone is ISO-legal
  if (hh < 0 || mm < 0 || hh > 23 || mm > 59) return NaN;
  const minutes = hh * 60 + mm;
  return sign === 45 ? -minutes : minutes;
}

/**
 * A log's date (`17/May/2015`) and zone (` +0000`) repeat for thousands of lines in a row, so each
 * is cached against its text: a line then costs two short substrings and two string compares
 * instead of ~20 character reads, a month lookup and days-from-civil. A key is the whole text its
 * value is computed from, so a hit returns exactly what recomputing would (NaN included).
 */
// Each pair starts out consistent: no date is '' (a date is 11 chars), and an empty tail is no zone.
let cachedDate = '';
let cachedDateMs = NaN;
let cachedZone = '';
let cachedZoneMs = 0;

/** `dd/Mon/yyyy` → UTC epoch ms of that day's 00:00, or NaN. */
function clfDateMs(d: string): number {
  if (d !== cachedDate) {
    const day = d2(d, 0);
    const year = d4(d, 7);
    const mon = MONTHS.get(monthKey(d.charCodeAt(3), d.charCodeAt(4), d.charCodeAt(5))) ?? 0;
    const ok = d.charCodeAt(2) === 47 /* / */ && d.charCodeAt(6) === 47 && (day | year) >= 0;
    cachedDateMs = ok ? epochFromFields(year, mon, day, 0, 0, 0, 0) : NaN;
    cachedDate = d;
  }
  return cachedDateMs;
}

/** What follows the seconds (` +0000`, ` -07:30`, `]`, or nothing) → ms to subtract from local time, or NaN. */
function clfZoneMs(z: string): number {
  if (z !== cachedZone) {
    // End of string or of the bracketed field: no zone, read as UTC.
    if (z.length === 0 || z.charCodeAt(0) === 93 /* ] */) cachedZoneMs = 0;
    // Local time = UTC + offset, so UTC = local − offset.
    else cachedZoneMs = z.charCodeAt(0) === 32 ? zoneMinutes(z, 1) * MS_PER_MIN : NaN;
    cachedZone = z;
  }
  return cachedZoneMs;
}

/**
 * Apache `%t` / nginx `$time_local`: `17/May/2015:10:05:03 +0000`, read from `start` (so a caller
 * may pass the whole `[...]` field with start = 1). A missing zone means UTC.
 */
export function parseClfTime(s: string, start = 0): number {
  const i = start;
  if (s.length < i + 20 || s.charCodeAt(i + 11) !== 58 /* : */ || s.charCodeAt(i + 14) !== 58 || s.charCodeAt(i + 17) !== 58) return NaN;
  const hh = d2(s, i + 12);
  const mi = d2(s, i + 15);
  const ss = d2(s, i + 18);
  // The ranges epochFromFields checks (a leap second, :60, lands on the next second's instant).
  if ((hh | mi | ss) < 0 || hh > 23 || mi > 59 || ss > 60) return NaN;
  return clfDateMs(s.substring(i, i + 11)) + ((hh * 60 + mi) * 60 + ss) * 1000 - clfZoneMs(s.substring(i + 20));
}

/**
 * ISO 8601 / RFC 3339 extended form: `2015-05-17`, `2015-05-17T10:05:03`, `…:03.123Z`,
 * `…+02:00`, `…+0200`; `T`, `t` or a space between date and time. A date-time without a zone is
 * read as UTC — not local time as Date.parse does — so a replay does not depend on the machine's
 * TZ. Fractions beyond milliseconds are truncated.
 */
export function parseIsoTime(s: string): number {
  const n = s.length;
  if (n < 10 || s.charCodeAt(4) !== 45 /* - */ || s.charCodeAt(7) !== 45) return NaN;
  const y = d4(s, 0);
  const mo = d2(s, 5);
  const d = d2(s, 8);
  if ((y | mo | d) < 0) return NaN;
  if (n === 10) return epochFromFields(y, mo, d, 0, 0, 0, 0);
  const sep = s.charCodeAt(10);
  if (sep !== 84 /* T */ && sep !== 116 /* t */ && sep !== 32) return NaN;
  const hh = d2(s, 11);
  const mi = d2(s, 14);
  if (n < 16 || s.charCodeAt(13) !== 58 || (hh | mi) < 0) return NaN;
  let i = 16;
  let ss = 0;
  let ms = 0;
  if (s.charCodeAt(i) === 58) {
    ss = d2(s, i + 1);
    if (ss < 0) return NaN;
    i += 3;
    const dot = s.charCodeAt(i);
    if (dot === 46 /* . */ || dot === 44 /* , */) {
      i++;
      const first = i;
      for (let scale = 100; i < n; i++, scale /= 10) {
        const c = s.charCodeAt(i) - 48;
        if (!(c >= 0 && c <= 9)) break;
        if (scale >= 1) ms += c * scale;
      }
      if (i === first) return NaN;
    }
  }
  const local = epochFromFields(y, mo, d, hh, mi, ss, ms);
  if (i === n) return local;
  const z = s.charCodeAt(i);
  if ((z === 90 /* Z */ || z === 122) && i + 1 === n) return local;
  const end = i + (s.charCodeAt(i + 3) === 58 ? 6 : i + 3 === n ? 3 : 5);
  if (end !== n) return NaN;
  return local - zoneMinutes(s, i) * MS_PER_MIN;
}

// Thresholds of the epoch-unit heuristic. Today is ~1.7e9 s = 1.7e12 ms = 1.7e15 µs = 1.7e18 ns;
// each boundary sits three orders of magnitude apart, so no plausible date falls in two ranges.
const SECONDS_BELOW = 1e11; // 1e11 s is year 5138; 1e11 ms is 1973
const MS_BELOW = 1e14;
const US_BELOW = 1e17;

/** Epoch seconds, ms, µs or ns (chosen by magnitude) → integer epoch ms. */
export function epochToMs(x: number): number {
  if (!Number.isFinite(x)) return NaN;
  const a = Math.abs(x);
  if (a < SECONDS_BELOW) return Math.round(x * 1000);
  if (a < MS_BELOW) return Math.round(x);
  if (a < US_BELOW) return Math.round(x / 1000);
  return Math.round(x / 1e6);
}

const NUMERIC = /^\s*-?\d+(?:\.\d+)?\s*$/;

/** A numeric string (`"1431857103"`, `"1431857103.5"`) as epoch via epochToMs; NaN otherwise. */
export function parseEpoch(s: string): number {
  return NUMERIC.test(s) ? epochToMs(Number(s)) : NaN;
}

/**
 * Any supported form, for analyzers whose time field type is not known in advance (JSON, user
 * modules): a number or numeric string (epoch), a Date, a CLF time (with or without `[]`), or ISO.
 */
export function parseTime(v: unknown): number {
  // Strings first, the usual case (the regex analyzer's groups): a string is neither of the others.
  if (typeof v === 'string') return parseTimeString(v);
  if (typeof v === 'number') return epochToMs(v);
  if (v instanceof Date) return v.getTime();
  return NaN;
}

/** parseTime of a string. */
export function parseTimeString(v: string): number {
  const c = v.charCodeAt(0);
  if (c === 91 /* [ */) return parseClfTime(v, 1);
  if (v.charCodeAt(2) === 47 /* / */) return parseClfTime(v);
  if (v.charCodeAt(4) === 45 /* - */) return parseIsoTime(v);
  return parseEpoch(v);
}
