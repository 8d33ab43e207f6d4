/**
 * A set of positive integers up to 2^53 (memcached CAS values), open addressing, at most half full, no
 * per-entry objects. Values below 2^32 (nearly all: memcached's CAS counter is per server and counts
 * writes) live in a Uint32Array (4 bytes a slot), larger ones in a Float64Array. Exact: no hashing of the
 * values away.
 *
 * Bounded: past `maxEntries` it stops adding (`add` then answers true, "was absent", without storing)
 * and counts the refusals in `overflow`. Callers use it to skip work already done, so a full set costs
 * repeated work, never a wrong answer.
 */
export class CasSet {
  private readonly small = new Table(Uint32Array);
  private readonly big = new Table(Float64Array);
  /** Adds refused because the set was full. */
  overflow = 0;

  constructor(private readonly maxEntries = Infinity) {}

  get size(): number {
    return this.small.count + this.big.count;
  }

  has(cas: number): boolean {
    if (!(cas > 0)) return false; // 0 marks an empty slot: never a member
    return cas <= 0xffffffff ? this.small.has(cas) : this.big.has(cas);
  }

  /** Adds cas (> 0); returns false when it was already there. */
  add(cas: number): boolean {
    if (!(cas > 0 && cas <= Number.MAX_SAFE_INTEGER && Number.isInteger(cas)))
      throw new RangeError(`not a CAS value: ${cas}`);
    const t = cas <= 0xffffffff ? this.small : this.big;
    if (t.full() && this.size >= this.maxEntries) {
      if (t.has(cas)) return false;
      this.overflow++;
      return true;
    }
    return t.add(cas);
  }
}

type Slots = Uint32Array | Float64Array;

class Table {
  private slots: Slots;
  private mask = 1023;
  count = 0;

  constructor(private readonly make: new (n: number) => Slots) {
    this.slots = new make(1024);
  }

  /** True when one more entry needs the table to grow. */
  full(): boolean {
    return (this.count + 1) * 2 > this.slots.length;
  }

  has(cas: number): boolean {
    const t = this.slots;
    for (let i = slot(cas, this.mask); ; i = (i + 1) & this.mask) {
      const v = t[i];
      if (v === cas) return true;
      if (v === 0) return false;
    }
  }

  add(cas: number): boolean {
    if (this.full()) this.grow();
    const t = this.slots;
    for (let i = slot(cas, this.mask); ; i = (i + 1) & this.mask) {
      const v = t[i];
      if (v === cas) return false;
      if (v === 0) {
        t[i] = cas;
        this.count++;
        return true;
      }
    }
  }

  private grow(): void {
    const old = this.slots;
    this.slots = new this.make(old.length * 2);
    this.mask = this.slots.length - 1;
    for (const v of old) {
      if (v === 0) continue;
      for (let i = slot(v, this.mask); ; i = (i + 1) & this.mask)
        if (this.slots[i] === 0) {
          this.slots[i] = v;
          break;
        }
    }
  }
}

function slot(cas: number, mask: number): number {
  const lo = cas >>> 0;
  const hi = Math.floor(cas / 4294967296) >>> 0;
  return (Math.imul(lo ^ Math.imul(hi, 0x85ebca6b), 0x9e3779b1) >>> 0) & mask;
}
