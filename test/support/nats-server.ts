// The launcher is production code (`havok local` starts its own nats-server with it); tests use
// the same one so what they exercise is what users run.
export * from '../../services/local/nats-server.js';
