/**
 * Case mapping on the hot path: nearly every logged method is already upper case and nearly
 * every header name already lower case, and then the builtin call (about as costly as the rest of
 * a record's fields) is skipped. Any char that is not plain ASCII goes through the builtin, whose
 * Unicode mapping is the definition.
 */

/** `s.toUpperCase()`. */
export function upperCase(s: string): string {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 0x7f || (c >= 0x61 /* a */ && c <= 0x7a) /* z */) return s.toUpperCase();
  }
  return s;
}

/** `s.toLowerCase() === s`, for ASCII `s`; false for any other char (not looked into). */
export function isLowerAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 0x7f || (c >= 0x41 /* A */ && c <= 0x5a) /* Z */) return false;
  }
  return true;
}
