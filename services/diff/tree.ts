/**
 * The plain values a response is lifted into (JSON's own types), and the helpers the comparison
 * and the examples share. Pure.
 */
export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type JsonObject = { [key: string]: Json };

export type JsonType = 'null' | 'boolean' | 'number' | 'string' | 'array' | 'object';

export function typeOf(x: Json): JsonType {
  if (x === null) return 'null';
  if (Array.isArray(x)) return 'array';
  return typeof x as 'boolean' | 'number' | 'string' | 'object';
}

/** JSON text with object keys sorted: equal values give equal text whatever their key order. */
export function canonical(x: Json): string {
  if (x === null || typeof x !== 'object') return JSON.stringify(x);
  if (Array.isArray(x)) return '[' + x.map(canonical).join(',') + ']';
  const keys = Object.keys(x).sort();
  return '{' + keys.map((k) => JSON.stringify(k) + ':' + canonical(x[k])).join(',') + '}';
}

/** Path of a child: `body` + `price` → `body.price`; the root's children have no dot. */
export const childPath = (path: string, key: string): string => (path ? `${path}.${key}` : key);

/**
 * The value at a concrete path (`body.items[3].price`, as `Difference.at`), or undefined. Keys
 * containing `.` or `[` are not addressable this way (their examples show no value).
 */
export function valueAt(root: Json, at: string): Json | undefined {
  let node: Json | undefined = root;
  for (const part of at.match(/[^.[\]]+|\[\d+\]/g) ?? []) {
    if (node === null || typeof node !== 'object') return undefined;
    if (part.startsWith('[')) {
      if (!Array.isArray(node)) return undefined;
      node = node[Number(part.slice(1, -1))];
    } else {
      if (Array.isArray(node) || !Object.hasOwn(node, part)) return undefined;
      node = node[part];
    }
  }
  return node;
}
