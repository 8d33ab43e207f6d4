import { CrawlBackoff, decodeUriBytes, MetadumpParser } from '../../../agent/metadump-parser';
import { ProtocolError } from '../../../agent/errors';

type Event = { key: string; exp: number; size: number; cas: number } | 'END' | 'BUSY' | { error: string };

function parse(chunks: Buffer[]): Event[] {
  const events: Event[] = [];
  const parser = new MetadumpParser({
    item: (key, length, exp, size, cas) =>
      events.push({ key: key.toString('hex', 0, length), exp, size, cas }),
    end: () => events.push('END'),
    busy: () => events.push('BUSY'),
    error: (error) => events.push({ error }),
  });
  for (const c of chunks) parser.feed(c);
  return events;
}

// As memcached 1.6.18 prints it (seen in an experiment): bare LF after items, CRLF after END.
const WIRE = Buffer.from(
  'BUSY currently processing crawler request\r\n' +
    'key=a%20b%C3%A9%00%0D%0Az%25 exp=-1 la=1795472801 cas=2 fetch=no cls=1 size=78\n' +
    'key=plain exp=1795472904 la=1795472804 cas=6 fetch=no cls=1 size=69\n' +
    'key=%FF%fe exp=-1 la=1795472802 cas=3 fetch=yes cls=1 size=65\n' +
    'END\r\n',
);
const EXPECTED: Event[] = [
  'BUSY',
  { key: Buffer.from('a b\u00e9\u0000\r\nz%', 'utf8').toString('hex'), exp: -1, size: 78, cas: 2 },
  { key: Buffer.from('plain').toString('hex'), exp: 1795472904, size: 69, cas: 6 },
  { key: 'fffe', exp: -1, size: 65, cas: 3 },
  'END',
];

describe('MetadumpParser', () => {
  it('given the 1.6.38 line with its flags field, and a hash walk refused during a hash-table expansion, then the item parses and the refusal is a BUSY', () => {
    expect(
      parse([
        Buffer.from(
          'ERROR locked try again later\r\n' +
            'key=k exp=-1 la=1795472801 cas=9 fetch=no cls=1 size=70 flags=4294967295\n' +
            'END\r\n',
        ),
      ]),
    ).toEqual(['BUSY', { key: Buffer.from('k').toString('hex'), exp: -1, size: 70, cas: 9 }, 'END']);
  });

  it('given a metadump with URI-encoded odd keys, when fed at once, then keys are the raw bytes with exp and size', () => {
    expect(parse([WIRE])).toEqual(EXPECTED);
  });

  it('given the dump split at every byte boundary, when fed in two parts, then the events are identical', () => {
    for (let i = 1; i < WIRE.length; i++)
      expect(parse([WIRE.subarray(0, i), WIRE.subarray(i)])).toEqual(EXPECTED);
  });

  it('given the dump fed one byte at a time, when parsed, then the events are identical', () => {
    expect(parse([...WIRE].map((b) => Buffer.from([b])))).toEqual(EXPECTED);
  });

  it('given a wants filter, when parsed, then only the keys it accepts reach item, with their fields, and END still comes', () => {
    const asked: string[] = [];
    const events: Event[] = [];
    const parser = new MetadumpParser({
      wants: (key, length) => {
        asked.push(key.toString('latin1', 0, length));
        return key[0] !== 0x61; // drops "a b..."
      },
      item: (key, length, exp, size, cas) =>
        events.push({ key: key.toString('hex', 0, length), exp, size, cas }),
      end: () => events.push('END'),
      busy: () => events.push('BUSY'),
      error: (error) => events.push({ error }),
    });
    parser.feed(WIRE);
    expect(asked.length).toBe(3);
    expect(events).toEqual(
      EXPECTED.filter((e) => !(typeof e === 'object' && 'key' in e && e.key.startsWith('61'))),
    );
    expect(events.length).toBe(EXPECTED.length - 1);
  });

  it('given a crawler that is disabled, when the server answers an error, then the error is reported', () => {
    expect(parse([Buffer.from('CLIENT_ERROR lru crawler disabled\r\n')])).toEqual([
      { error: 'CLIENT_ERROR lru crawler disabled' },
    ]);
  });

  it('given a truncated or bad %-escape, when decoded, then it throws a ProtocolError', () => {
    expect(() => decodeUriBytes(Buffer.from('ab%4'), 0, 4)).toThrow(ProtocolError);
    expect(() => decodeUriBytes(Buffer.from('ab%zz'), 0, 5)).toThrow(ProtocolError);
    expect(decodeUriBytes(Buffer.from('%41%62c'), 0, 7).toString()).toBe('Abc');
  });

  it('given a CAS above 2^53 or none, when parsed, then cas is 0 (unknown), never a rounded value', () => {
    const events = parse([
      Buffer.from(
        'key=a exp=-1 la=1 cas=9007199254740993 fetch=no cls=1 size=70\nkey=b exp=-1 la=1 fetch=no cls=1 size=70\nkey=c exp=-1 la=1 cas=9007199254740991 fetch=no cls=1 size=70\nEND\r\n',
      ),
    ]);
    expect(events).toEqual([
      { key: '61', exp: -1, size: 70, cas: 0 },
      { key: '62', exp: -1, size: 70, cas: 0 },
      { key: '63', exp: -1, size: 70, cas: 9007199254740991 },
      'END',
    ]);
  });
});

describe('CrawlBackoff', () => {
  afterEach(() => jest.useRealTimers());

  it('given BUSY answers, then retries come after 50, 100, 200 ms..., capped at 1 s, until the limit, and reset starts over', () => {
    jest.useFakeTimers({ now: 0 });
    const backoff = new CrawlBackoff(3000);
    const retries: number[] = [];
    const retry = () => retries.push(Date.now());
    for (let i = 0; i < 6; i++) {
      expect(backoff.busy(retry)).toBe(true);
      expect(backoff.waiting).toBe(true);
      jest.runOnlyPendingTimers();
      expect(backoff.waiting).toBe(false);
    }
    expect(retries).toEqual([50, 150, 350, 750, 1550, 2550]);
    jest.advanceTimersByTime(500); // BUSY since t=0, now 3050 ms
    expect(backoff.busy(retry)).toBe(false);
    backoff.reset();
    expect(backoff.busy(retry)).toBe(true);
    backoff.cancel();
    jest.runOnlyPendingTimers();
    expect(retries).toHaveLength(6);
  });
});
