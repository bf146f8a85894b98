import { createServer } from 'node:net';

// TRICKY: a port the kernel hands out for listen(0) comes from the ephemeral range, where every
// outgoing connection of the machine (broker, Postgres, other test processes) also takes its
// local port; a service restarted on "its" port after a SIGKILL could then find it taken. Ports
// below Linux's default ephemeral range (32768-60999) are only ever taken by listeners.
const LISTEN_PORT_FIRST = 20_000;
const LISTEN_PORT_LAST = 32_000;
const ATTEMPTS = 50;

/** A loopback TCP port below the ephemeral range that nothing listens on right now. */
export async function freePort(): Promise<number> {
  for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
    const port = LISTEN_PORT_FIRST + Math.floor(Math.random() * (LISTEN_PORT_LAST - LISTEN_PORT_FIRST));
    if (await canListen(port)) return port;
  }
  throw new Error(`no free port between ${LISTEN_PORT_FIRST} and ${LISTEN_PORT_LAST} after ${ATTEMPTS} tries`);
}

/** True when nothing listens on `port` of 127.0.0.1 (it was free a moment ago). */
export async function canListen(port: number): Promise<boolean> {
  const server = createServer();
  const listening = await new Promise<boolean>((done) => {
    server.once('error', () => done(false));
    server.listen(port, '127.0.0.1', () => done(true));
  });
  if (listening) await new Promise<void>((done) => server.close(() => done()));
  return listening;
}
