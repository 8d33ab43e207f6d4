import { CommandWriter, KEY_BASE64, KEY_RAW, MemcachedConnection } from '../../../agent';

/** A connection that keeps every written buffer until told to finish it, as a slow socket does. */
class HeldWrites {
  readonly held: { data: Buffer; snapshot: Buffer; done: () => void }[] = [];
  readonly sent: Buffer[] = [];

  write(data: Buffer, done?: () => void): boolean {
    this.held.push({ data, snapshot: Buffer.from(data), done: done ?? (() => undefined) });
    return true;
  }

  /** Finishes the oldest `n` writes; returns those whose bytes changed while the socket held them. */
  finish(n: number): number {
    let changed = 0;
    for (const w of this.held.splice(0, n)) {
      if (!w.data.equals(w.snapshot)) changed++;
      this.sent.push(w.snapshot);
      w.done();
    }
    return changed;
  }
}

function commands(count: number): { key: string; value: Buffer }[] {
  return Array.from({ length: count }, (_, i) => ({
    key: i % 3 === 0 ? `key ${i} \u00e9` : `k:${i}`,
    value: Buffer.alloc(500 + (i % 40) * 1000, i & 0xff),
  }));
}

describe('CommandWriter', () => {
  it('given the socket holds its writes for a while, when many chunks fill, then no held byte changes and the stream is exact', () => {
    const conn = new HeldWrites();
    const w = new CommandWriter(conn as unknown as MemcachedConnection);
    const expected: Buffer[] = [];
    let changed = 0;
    const items = commands(3000);
    items.forEach(({ key, value }, i) => {
      const raw = Buffer.from(key);
      const form = key.includes(' ') ? KEY_BASE64 : KEY_RAW;
      w.room(400);
      w.ascii(Buffer.from('ms '));
      w.key(raw, 0, raw.length, form);
      w.byte(0x20);
      w.dec(value.length);
      w.ascii(Buffer.from(form === KEY_RAW ? ' F' : ' b F'));
      w.dec(i);
      w.ascii(Buffer.from(' q\r\n'));
      w.data(value);
      const wire = form === KEY_RAW ? key : raw.toString('base64');
      expected.push(
        Buffer.from(`ms ${wire} ${value.length}${form === KEY_RAW ? '' : ' b'} F${i} q\r\n`),
        value,
      );
      expected.push(Buffer.from('\r\n'));
      // Finish writes late and out of step with the chunks: a recycled buffer must not be one still held.
      if (i % 5 === 4) w.flush();
      if (conn.held.length > 400) changed += conn.finish(50);
      // Now and then the socket catches up completely, in the middle of a chunk.
      if (i % 300 === 150) changed += conn.finish(conn.held.length);
    });
    w.take();
    changed += conn.finish(conn.held.length);

    expect(changed).toBe(0);
    expect(Buffer.concat(conn.sent).equals(Buffer.concat(expected))).toBe(true);
  });
});
