/**
 * The replayer's connections to the target, as the undici Pool's connector (`connect` option):
 * every connection the Pool uses passes here, which gives three things.
 *
 * Opened ahead. undici's Pool connects lazily, on a request, so
 * the first requests of a replay wait for TCP (and TLS) handshakes, and the first burst opens
 * every connection at once. The Pool takes a `connect` function (its connector); this one hands
 * out a socket opened ahead of time while one is idle and fresh, and otherwise connects as
 * undici's own connector does. Opening a connection sends nothing: no request reaches the target
 * before its due time.
 *
 * Counted. `bytes()` sums the sockets' own byte counters (HTTP bytes; on https without the TLS
 * overhead): bytes sent and received cost nothing per request.
 *
 * Redirected. During the replayer's code warm-up (`warmup.ts`) new connections go to a loopback
 * sink instead, so the warm-up runs through the job's own Pool without reaching the target.
 */
import { buildConnector } from 'undici';
import type { Socket } from 'node:net';

/**
 * An idle pre-opened socket older than this is closed instead of used: a server may drop a
 * connection that carries no request, and a request written on one it is closing fails. Servers
 * wait well beyond this for a new connection's first request (nginx 60 s, Apache 20 s, Node's
 * http server 60 s); one closed earlier is noticed (`close`) and forgotten.
 */
const MAX_IDLE_MS = 10_000;

interface Idle {
  socket: Socket;
  openedAt: number;
  drop: () => void;
  expiry?: NodeJS.Timeout;
}

export class TargetConnections {
  private readonly idle: Idle[] = [];
  private readonly base: buildConnector.connector;
  private closed = false;
  /** The top-up in progress (open), so a second one waits for it. */
  private opening: Promise<void> = Promise.resolve();
  /** While set, connections go to this loopback address instead (the replayer's code warm-up). */
  private redirect?: { address: string; port: number };
  /** Sockets handed to the Pool, and connections it had to open itself. */
  hits = 0;
  misses = 0;
  /** The target's connections in use by the Pool, and the bytes of those already closed. */
  private readonly inUse = new Set<Socket>();
  private closedWritten = 0;
  private closedRead = 0;

  constructor(
    private readonly origin: URL,
    options: buildConnector.BuildOptions = {},
    /** How long an idle pre-opened socket is kept (tests shorten it). */
    private readonly maxIdleMs = MAX_IDLE_MS,
  ) {
    this.base = buildConnector(options);
  }

  /** Idle pre-opened sockets (still open). */
  get size(): number {
    return this.idle.length;
  }

  /** Sends the Pool's new connections to a local sink until called with undefined. */
  redirectTo(sink: { address: string; port: number } | undefined): void {
    this.redirect = sink;
  }

  /** The Pool's `connect` option. */
  readonly connect: buildConnector.connector = (opts, callback) => {
    if (this.redirect) {
      const { address, port } = this.redirect;
      this.base({ ...opts, protocol: 'http:', hostname: address, host: `${address}:${port}`, port: String(port), servername: undefined }, callback);
      return;
    }
    const counted = ((err: Error | null, socket: Socket | null) => {
      if (socket) this.count(socket);
      (callback as (e: Error | null, s: Socket | null) => void)(err, socket);
    }) as typeof callback;
    // TLS: a socket opened ahead was opened for the origin's name; a request naming another
    // server (a configured Host header) gets its own connection.
    if (opts.protocol === 'https:' && opts.servername && opts.servername !== this.origin.hostname) {
      this.misses++;
      this.base(opts, counted);
      return;
    }
    const now = Date.now();
    for (let it = this.idle.pop(); it; it = this.idle.pop()) {
      this.release(it);
      if (!it.socket.destroyed && it.socket.readyState === 'open' && now - it.openedAt <= this.maxIdleMs) {
        // Asynchronously, as a real connect: undici calls this from inside its resume loop,
        // which ignores a nested resume (the request would wait for the next event).
        const socket = it.socket;
        this.hits++;
        process.nextTick(() => (socket.destroyed ? this.base(opts, counted) : counted(null, socket)));
        return;
      }
      it.socket.destroy();
    }
    this.misses++;
    this.base(opts, counted);
  };

  /**
   * Tops the idle sockets up to `n`, replacing those past half their usable age; resolves with
   * how many are idle once every attempt has finished (a failed one is left for the Pool to
   * open on a request).
   */
  open(n: number): Promise<{ idle: number; errors: string[] }> {
    // One top-up at a time: a second one started while the first is still connecting would
    // count only the sockets already open and open up to `n` more.
    const next = this.opening.then(() => this.topUp(n));
    this.opening = next.then(
      () => undefined,
      () => undefined,
    );
    return next;
  }

  private async topUp(n: number): Promise<{ idle: number; errors: string[] }> {
    const now = Date.now();
    for (let i = this.idle.length - 1; i >= 0; i--) {
      const it = this.idle[i];
      if (now - it.openedAt > this.maxIdleMs / 2) {
        this.idle.splice(i, 1);
        this.release(it);
        it.socket.destroy();
      }
    }
    const errors: string[] = [];
    const opts: buildConnector.Options = { hostname: this.origin.hostname, host: this.origin.host, protocol: this.origin.protocol, port: this.origin.port };
    await Promise.all(
      Array.from({ length: Math.max(0, n - this.idle.length) }, () =>
        new Promise<void>((resolve) => {
          this.base(opts, (err, socket) => {
            if (err || !socket) errors.push((err as { code?: string })?.code ?? err?.message ?? 'no socket');
            else if (this.closed) socket.destroy();
            else this.keep(socket);
            resolve();
          });
        }),
      ),
    );
    return { idle: this.idle.length, errors: [...new Set(errors)] };
  }

  /**
   * Bytes written to and read from the target's connections so far (request and status lines,
   * headers and bodies), as k6's data_sent and data_received. Counted by the sockets, so it costs
   * nothing per request. On https these are the HTTP bytes inside TLS (a TLSSocket counts its
   * plaintext): TLS records and handshakes are not included.
   */
  bytes(): { sent: number; received: number } {
    let sent = this.closedWritten;
    let received = this.closedRead;
    for (const s of this.inUse) {
      sent += s.bytesWritten;
      received += s.bytesRead;
    }
    return { sent, received };
  }

  private count(socket: Socket): void {
    this.inUse.add(socket);
    socket.once('close', () => {
      this.inUse.delete(socket);
      this.closedWritten += socket.bytesWritten;
      this.closedRead += socket.bytesRead;
    });
  }

  /** Closes the idle sockets; later connects go straight to the base connector. */
  close(): void {
    this.closed = true;
    for (const it of this.idle.splice(0)) {
      this.release(it);
      it.socket.destroy();
    }
  }

  private keep(socket: Socket): void {
    const it: Idle = {
      socket,
      openedAt: Date.now(),
      // Closed by the server (or reset) while idle, or never used in time: forget it.
      drop: () => {
        clearTimeout(it.expiry);
        const i = this.idle.indexOf(it);
        if (i >= 0) this.idle.splice(i, 1);
        socket.destroy();
      },
    };
    // Not held open on the target for nothing when the Pool never needs it.
    it.expiry = setTimeout(it.drop, this.maxIdleMs).unref();
    socket.on('close', it.drop).on('error', it.drop);
    this.idle.push(it);
  }

  /** Takes `it` out of the idle list's bookkeeping (its listeners and expiry), keeping the socket. */
  private release(it: Idle): void {
    clearTimeout(it.expiry);
    it.socket.off('close', it.drop).off('error', it.drop);
  }
}
