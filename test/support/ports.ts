// The tests' free-port finder is the product's own (havok local uses it too).
export { freePort } from '../../shared/ports.js';
