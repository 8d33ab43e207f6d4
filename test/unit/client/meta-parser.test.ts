import { MetaProtocolError } from '../../../client/errors';
import { flagValue, MetaParser, MetaReply } from '../../../client/meta-parser';

const binary = Buffer.from([0x00, 0x0d, 0x0a, 0xff, 0x20, 0x0d]);
const STREAM = Buffer.concat([
  Buffer.from('VA 5 f7 t-1\r\nhello\r\n'),
  Buffer.from('EN\r\n'),
  Buffer.from(`VA ${binary.length} f4294967295 t60\r\n`),
  binary,
  Buffer.from('\r\nHD f3 s5 c12\r\nNS\r\nEX\r\nNF\r\nHD\r\nVA 0\r\n\r\n'),
  Buffer.from(
    'SERVER_ERROR object too large for cache\r\nCLIENT_ERROR bad command line format\r\nERROR\r\nMN\r\n',
  ),
]);
const EXPECTED: MetaReply[] = [
  { type: 'VA', value: Buffer.from('hello'), flags: ['f7', 't-1'] },
  { type: 'EN', flags: [] },
  { type: 'VA', value: binary, flags: ['f4294967295', 't60'] },
  { type: 'HD', flags: ['f3', 's5', 'c12'] },
  { type: 'NS', flags: [] },
  { type: 'EX', flags: [] },
  { type: 'NF', flags: [] },
  { type: 'HD', flags: [] },
  { type: 'VA', value: Buffer.alloc(0), flags: [] },
  { type: 'SERVER_ERROR', message: 'object too large for cache' },
  { type: 'CLIENT_ERROR', message: 'bad command line format' },
  { type: 'ERROR' },
  { type: 'MN', flags: [] },
];

function parseChunks(chunks: Buffer[]): MetaReply[] {
  const parser = new MetaParser();
  const out: MetaReply[] = [];
  for (const c of chunks) parser.feed(c, (r) => out.push(r));
  return out;
}

describe('MetaParser', () => {
  it('given a stream of every reply kind in one chunk, when fed, then each reply comes out once, in order', () => {
    expect(parseChunks([STREAM])).toEqual(EXPECTED);
  });

  it('given the stream split in two at every byte boundary, when fed, then the replies are the same', () => {
    for (let i = 0; i <= STREAM.length; i++) {
      expect({ split: i, replies: parseChunks([STREAM.subarray(0, i), STREAM.subarray(i)]) }).toEqual({
        split: i,
        replies: EXPECTED,
      });
    }
  });

  it('given the stream fed one byte at a time, when fed, then the replies are the same', () => {
    const bytes = Array.from({ length: STREAM.length }, (_, i) => STREAM.subarray(i, i + 1));
    expect(parseChunks(bytes)).toEqual(EXPECTED);
  });

  it('given a large value in many chunks, when fed, then it is emitted whole, only once it is complete', () => {
    const value = Buffer.alloc(300_000, 'v');
    const stream = Buffer.concat([
      Buffer.from(`VA ${value.length} f1\r\n`),
      value,
      Buffer.from('\r\nEN\r\n'),
    ]);
    const parser = new MetaParser();
    const out: MetaReply[] = [];
    for (let i = 0; i < stream.length; i += 65536) {
      parser.feed(stream.subarray(i, i + 65536), (r) => out.push(r));
      if (i + 65536 < value.length) expect(out).toEqual([]);
    }
    expect(out).toHaveLength(2);
    expect((out[0] as { value: Buffer }).value.equals(value)).toBe(true);
  });

  it('given a value not followed by CRLF, when fed, then it throws MetaProtocolError', () => {
    expect(() => parseChunks([Buffer.from('VA 2\r\nabXY')])).toThrow(MetaProtocolError);
  });

  it('given a reply line the protocol does not have, when fed, then it throws naming the line', () => {
    expect(() => parseChunks([Buffer.from('VALUE k 0 1\r\n')])).toThrow(/unexpected reply "VALUE k 0 1"/);
  });

  it('given a VA with a bad size, when fed, then it throws MetaProtocolError', () => {
    expect(() => parseChunks([Buffer.from('VA x f1\r\n')])).toThrow(MetaProtocolError);
  });

  it('given 9 KB without a line end, when fed, then it throws rather than buffering forever', () => {
    expect(() => parseChunks([Buffer.alloc(9000, 'a')])).toThrow(/longer than 8192/);
  });

  it('given returned flags, when asking for one by letter, then its value or undefined comes back', () => {
    expect(flagValue(['f5', 't-1', 'c9'], 't')).toBe('-1');
    expect(flagValue(['f5'], 's')).toBeUndefined();
  });
});
