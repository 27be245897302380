import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { fmtBytes } from '../../services/reporter/format.js';

describe('fmtBytes', () => {
  const rows: Array<[number, string]> = [
    [0, '0 B'],
    [1023, '1023 B'],
    [1024, '1.0 KB'],
    [1536, '1.5 KB'],
    [5 * 1024 * 1024, '5.0 MB'],
    [3 * 1024 ** 4 * 1024, '3072.0 TB'],
    [Number.NaN, '0 B'],
  ];
  for (const [bytes, want] of rows) test(`${bytes} → ${want}`, () => assert.equal(fmtBytes(bytes), want));
});
