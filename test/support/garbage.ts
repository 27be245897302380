/**
 * Messages that must never be accepted: for the fuzz tests of the protocol decoder and for the
 * flood of malformed messages on a running job's subjects. fast-check arbitraries, so a failure
 * shrinks to the smallest message that breaks a decoder.
 *
 * Kinds of garbage: random bytes; msgpack of random values; a map naming a real kind with its
 * fields missing or mistyped; a real kind with a version no build reads; a map naming a kind
 * that does not exist.
 */
import fc from 'fast-check';
import { pack } from 'msgpackr';
import { KINDS, type MsgKind } from '../../shared/protocol.js';

const KIND_NAMES = Object.keys(KINDS) as MsgKind[];

/** A value msgpack can carry, nested a little. */
const wireValue: fc.Arbitrary<unknown> = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small' },
    fc.integer(),
    fc.double(),
    fc.boolean(),
    fc.constant(null),
    fc.string({ maxLength: 20 }),
    fc.uint8Array({ maxLength: 20 }),
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(fc.string({ maxLength: 8 }), tie('value'), { maxKeys: 4 }),
  ),
})).value;

/** Garbage: never a valid message of any kind. */
export const garbageMessage: fc.Arbitrary<Uint8Array> = fc.oneof(
  // random bytes (most are not msgpack, or not a map)
  fc.uint8Array({ minLength: 0, maxLength: 64 }),
  // msgpack of any value that is not a map
  fc.oneof(fc.integer(), fc.string(), fc.array(wireValue, { maxLength: 4 })).map((v) => pack(v)),
  // a real kind and version, its fields replaced by random ones
  fc.tuple(fc.constantFrom(...KIND_NAMES), fc.dictionary(fc.string({ maxLength: 8 }), wireValue, { maxKeys: 4 })).map(([kind, fields]) => pack({ ...fields, v: KINDS[kind].v, kind, sender: 'fuzz' })),
  // a real kind with a version no build reads
  fc.tuple(fc.constantFrom(...KIND_NAMES), fc.integer({ min: 2, max: 1000 })).map(([kind, v]) => pack({ v, kind, sender: 'fuzz' })),
  // a kind that does not exist
  fc.string({ maxLength: 12 }).filter((k) => !(KIND_NAMES as string[]).includes(k)).map((kind) => pack({ v: 1, kind, sender: 'fuzz' })),
);

/** `n` garbage messages, the same for the same seed. */
export function garbageMessages(n: number, seed = 42): Uint8Array[] {
  return fc.sample(garbageMessage, { numRuns: n, seed });
}
