import { connect } from 'node:net';
import { parseAddress } from '../core';

/** `stats` of one memcached: the bytes and items it holds, or undefined when it does not answer in time. */
export function serverStats(
  address: string,
  timeoutMs = 1000,
): Promise<{ bytes: number; items: number } | undefined> {
  const target = parseAddress(address);
  if (!target) return Promise.resolve(undefined);
  return new Promise((resolve) => {
    let text = '';
    const socket = connect(target.port, target.host);
    const done = (value: { bytes: number; items: number } | undefined) => {
      socket.destroy();
      resolve(value);
    };
    socket.setTimeout(timeoutMs, () => done(undefined));
    socket.once('error', () => done(undefined));
    socket.once('connect', () => socket.write('stats\r\n'));
    socket.on('data', (chunk: Buffer) => {
      text += chunk.toString('latin1');
      if (!text.includes('END\r\n')) return;
      const stat = (name: string) => Number(new RegExp(`^STAT ${name} (\\d+)`, 'm').exec(text)?.[1]);
      const bytes = stat('bytes');
      const items = stat('curr_items');
      done(Number.isFinite(bytes) && Number.isFinite(items) ? { bytes, items } : undefined);
    });
  });
}
