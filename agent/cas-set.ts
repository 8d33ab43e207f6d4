/**
 * A set of positive integers up to 2^53 (memcached CAS values), open addressing in one Float64Array:
 * 8 bytes a slot, at most half full, no per-entry objects. Exact: no hashing of the values away.
 */
export class CasSet {
  private table = new Float64Array(1024);
  private mask = 1023;
  private count = 0;

  get size(): number {
    return this.count;
  }

  has(cas: number): boolean {
    if (!(cas > 0)) return false; // 0 marks an empty slot: never a member
    const t = this.table;
    for (let i = slot(cas, this.mask); ; i = (i + 1) & this.mask) {
      const v = t[i];
      if (v === cas) return true;
      if (v === 0) return false;
    }
  }

  /** Adds cas (> 0); returns false when it was already there. */
  add(cas: number): boolean {
    if (!(cas > 0 && cas <= Number.MAX_SAFE_INTEGER && Number.isInteger(cas)))
      throw new RangeError(`not a CAS value: ${cas}`);
    if ((this.count + 1) * 2 > this.table.length) this.grow();
    const t = this.table;
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
    const old = this.table;
    this.table = new Float64Array(old.length * 2);
    this.mask = this.table.length - 1;
    for (const v of old) {
      if (v === 0) continue;
      for (let i = slot(v, this.mask); ; i = (i + 1) & this.mask)
        if (this.table[i] === 0) {
          this.table[i] = v;
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
