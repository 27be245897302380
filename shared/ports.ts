import { createServer } from 'node:net';

/**
 * A free loopback port, found by binding port 0 and closing. For servers whose address is needed
 * before they are up (`havok local`'s own nats-server, which the actors are already connecting
 * to; influxd, cluster routes and health endpoints in tests). Another process could take the port
 * in the short window between; the caller's start then fails with a clear error.
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
