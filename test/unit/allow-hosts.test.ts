import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { loadConfig } from '../../shared/config.js';
import { hostAllowed } from '../../services/fetcher/source.js';

describe('hostAllowed ([replayer] allow_hosts)', () => {
  const cases: Array<{ why: string; set: string[]; url: string; want: boolean }> = [
    // a path is what access logs hold: always replayed (to the target)
    { why: 'relative path', set: [], url: '/x?y=1', want: true },
    // default: only the target's own host
    { why: 'absolute URL on the target host', set: [], url: 'http://127.0.0.1:8080/x', want: true },
    { why: 'absolute URL on another host', set: [], url: 'http://other-host/x', want: false },
    { why: 'another port of the target host counts as another host', set: [], url: 'http://127.0.0.1:9999/x', want: false },
    // an allow list by host name, with or without port
    { why: 'listed host', set: ['replayer.allow_hosts=["shop.example.com"]'], url: 'https://shop.example.com/cart', want: true },
    { why: 'listed host, explicit port', set: ['replayer.allow_hosts=["shop.example.com"]'], url: 'http://shop.example.com:81/cart', want: true },
    { why: 'case-insensitive', set: ['replayer.allow_hosts=["shop.example.com"]'], url: 'http://SHOP.example.com/cart', want: true },
    { why: 'user-info does not smuggle a host', set: ['replayer.allow_hosts=["shop.example.com"]'], url: 'http://shop.example.com@evil.com/x', want: false },
    { why: 'not listed', set: ['replayer.allow_hosts=["shop.example.com"]'], url: 'http://evil.com/x', want: false },
    // "*" allows everything (requests still go to the target)
    { why: 'wildcard', set: ['replayer.allow_hosts=["*"]'], url: 'http://anything/x', want: true },
  ];
  for (const c of cases) {
    test(c.why, () => {
      const cfg = loadConfig({ set: ['replayer.target="http://127.0.0.1:8080"', ...c.set] });
      assert.equal(hostAllowed(cfg)(c.url), c.want, `hostAllowed(${c.set.join(' ')})(${c.url})`);
    });
  }
});
