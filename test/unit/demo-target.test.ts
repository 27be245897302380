/** The demo target's mapping of paths to status and latency (services/demo-target/server.ts): pure. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DEMO_SLOW_MS, demoResponse } from '../../services/demo-target/server.js';

test('demo target: maps paths to status and latency as documented', () => {
  // [path, expected status, expected latency with base 2 ms]
  const rows: Array<[string, number, number]> = [
    ['/', 200, 2], // ordinary path
    ['/index.php', 404, 2], // scanner probe
    ['/a/404/b', 404, 2], // explicit not-found path
    ['/404', 404, 2], // at the root
    ['/php/info', 200, 2], // "php" not as an extension
    ['/api/slow', 200, DEMO_SLOW_MS], // slow path
    ['/slow/x.php', 404, DEMO_SLOW_MS], // both rules apply
  ];
  for (const [path, status, latencyMs] of rows) {
    assert.deepEqual(demoResponse(path, 2), { status, latencyMs }, `demoResponse(${JSON.stringify(path)}, 2)`);
  }
});
