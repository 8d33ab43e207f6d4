import { Socket } from 'node:net';
import { parseAddress } from '../../../core';

/**
 * Sends raw meta-protocol commands to one server and returns everything it answered,
 * up to the `MN` that the appended `mn` produces: the tests' own view of a server,
 * independent of the client under test (and the way the agent talks to it).
 */
export function metaRaw(address: string, command: Buffer | string): Promise<Buffer> {
  const { host, port } = parseAddress(address)!;
  return new Promise((resolve, reject) => {
    const socket = new Socket();
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no MN from ${address} within 2 s`));
    }, 2000);
    socket.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    socket.connect(port, host, () =>
      socket.write(Buffer.concat([Buffer.from(command), Buffer.from('mn\r\n')])),
    );
    socket.on('data', (d: Buffer) => {
      chunks.push(d);
      const all = Buffer.concat(chunks);
      if (all.subarray(-4).toString() === 'MN\r\n') {
        clearTimeout(timer);
        socket.destroy();
        resolve(all.subarray(0, -4));
      }
    });
  });
}
