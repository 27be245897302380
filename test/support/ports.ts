import { createServer } from 'node:net';

/**
 * A free loopback port, found by binding port 0 and closing. For servers that cannot report a
 * port they chose themselves (influxd, cluster routes, health endpoints); the short window in
 * which another process could take it is accepted in tests.
 */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as { port: number }).port;
      srv.close(() => resolve(port));
    });
  });
}
