import { MetaResponseParser, MetaStatus } from '../../../agent/meta-parser';
import { ProtocolError } from '../../../agent/errors';

type Event = { value: string; flags: number; ttl: number } | { status: MetaStatus } | { error: string };

function parse(chunks: Buffer[]): Event[] {
  const events: Event[] = [];
  const parser = new MetaResponseParser({
    value: (data, flags, ttl) => events.push({ value: data.toString('latin1'), flags, ttl }),
    status: (status) => events.push({ status }),
    error: (error) => events.push({ error }),
  });
  for (const c of chunks) parser.feed(c);
  return events;
}

// A value that contains CRLF, "MN\r\n" and a fake header: only the length frames it.
const WIRE = Buffer.from(
  'VA 12 f4294967295 t-1\r\nMN\r\nVA 1 x\r\n\r\nEN\r\nVA 0 t2592001 f0\r\n\r\nNS\r\nHD\r\nSERVER_ERROR out of memory\r\nMN\r\n',
  'latin1',
);
const EXPECTED: Event[] = [
  { value: 'MN\r\nVA 1 x\r\n', flags: 4294967295, ttl: -1 },
  { status: 'EN' },
  { value: '', flags: 0, ttl: 2592001 },
  { status: 'NS' },
  { status: 'HD' },
  { error: 'SERVER_ERROR out of memory' },
  { status: 'MN' },
];

describe('MetaResponseParser', () => {
  it('given a whole response stream, when fed at once, then it yields every value and status in order', () => {
    expect(parse([WIRE])).toEqual(EXPECTED);
  });

  it('given the stream split at every byte boundary, when fed in two parts, then the events are identical', () => {
    for (let i = 1; i < WIRE.length; i++)
      expect(parse([WIRE.subarray(0, i), WIRE.subarray(i)])).toEqual(EXPECTED);
  });

  it('given the stream fed one byte at a time, when parsed, then the events are identical', () => {
    expect(parse([...WIRE].map((b) => Buffer.from([b])))).toEqual(EXPECTED);
  });

  it('given a value not followed by CRLF, when parsed, then it throws a ProtocolError (framing lost)', () => {
    expect(() => parse([Buffer.from('VA 2 f1\r\nabXY')])).toThrow(ProtocolError);
  });

  it('given a line that is no meta response, when parsed, then it throws naming the line', () => {
    expect(() => parse([Buffer.from('STORED\r\n')])).toThrow(/unexpected meta response line: "STORED"/);
  });
});
