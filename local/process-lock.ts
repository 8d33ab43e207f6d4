import { createHash } from 'node:crypto';
import { readFileSync, statSync, unlinkSync, writeFileSync } from 'node:fs';

/**
 * A process as the kernel knows it: its pid and its start time (clock ticks since boot, field 22
 * of /proc/<pid>/stat), so that a pid reused by a later process is not taken for its owner.
 */
export interface ProcessRef {
  readonly pid: number;
  /** '' where /proc is not available (then only the pid is checked). */
  readonly start: string;
}

/** The start time of `pid`, '' when /proc does not exist here, undefined when the process does not exist. */
function startOf(pid: number): string | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch (error) {
    // Gone, unless this system has no /proc at all (or hides it): then only the pid can be checked.
    if ((error as NodeJS.ErrnoException).code === 'ENOENT' && statExists('/proc/self/stat')) return undefined;
    return '';
  }
  // The command name (field 2) is in parentheses and may hold spaces: count fields after it.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  if (fields[0] === 'Z' || fields[0] === 'X') return undefined; // a zombie has finished
  return fields[19] ?? '';
}

function statExists(path: string): boolean {
  try {
    statSync(path);
    return true;
  } catch {
    return false;
  }
}

export function thisProcess(): ProcessRef {
  return { pid: process.pid, start: startOf(process.pid) ?? '' };
}

/** The running process `pid`, or undefined when there is none. */
export function processRef(pid: number): ProcessRef | undefined {
  const start = startOf(pid);
  return start === undefined ? undefined : { pid, start };
}

/** True while the very process `ref` names runs (not merely a process with its pid). */
export function isProcessAlive(ref: ProcessRef): boolean {
  try {
    process.kill(ref.pid, 0);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  const start = startOf(ref.pid);
  if (start === undefined) return false;
  return ref.start === '' || start === '' || start === ref.start;
}

export function sameProcess(a: ProcessRef, b: ProcessRef): boolean {
  return a.pid === b.pid && a.start === b.start;
}

/** Who holds a ProcessLock. */
export interface LockHolder extends ProcessRef {
  /** What it runs, for whoever waits: `astaire local scale 4`. */
  readonly command: string;
  /** ISO 8601. */
  readonly since: string;
}

/**
 * A lock file held by a live process (the `astaire local` commands that change a cluster): taken
 * with O_EXCL; a holder that is no longer running is broken through a second O_EXCL file named
 * after the dead holder's record, so that of several processes breaking one dead holder only one
 * removes it (the markers stay: one per crashed holder, removed with the state directory).
 */
export class ProcessLock {
  constructor(readonly path: string) {}

  /** Takes the lock, or returns the live process that holds it. */
  tryAcquire(
    command: string,
  ): { acquired: true; release: () => void } | { acquired: false; holder: LockHolder } {
    const me: LockHolder = { ...thisProcess(), command, since: new Date().toISOString() };
    const text = JSON.stringify(me);
    for (let attempt = 0; ; attempt++) {
      try {
        writeFileSync(this.path, text, { flag: 'wx' });
        return { acquired: true, release: () => this.releaseIf(text) };
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      }
      const current = this.read();
      if (current === undefined) continue; // released in between
      const holder = parseHolder(current.text);
      if (holder && isProcessAlive(holder)) return { acquired: false, holder };
      // A record being written right now is empty for an instant: only an old one is dead.
      if (!holder && Date.now() - current.mtimeMs < 5000)
        return { acquired: false, holder: { pid: 0, start: '', command: 'unknown', since: '' } };
      if (attempt > 20) throw new Error(`cannot take ${this.path}: it changes hands repeatedly`);
      this.breakDead(current.text);
    }
  }

  /** Waits (bounded by `timeoutMs`) for the lock, telling `onWait` each new holder it waits for. */
  async acquire(
    command: string,
    onWait: (holder: LockHolder) => void,
    timeoutMs = 3_600_000,
  ): Promise<() => void> {
    const deadline = Date.now() + timeoutMs;
    let told = '';
    for (;;) {
      const attempt = this.tryAcquire(command);
      if (attempt.acquired) return attempt.release;
      const who = JSON.stringify(attempt.holder);
      if (who !== told) onWait(attempt.holder);
      told = who;
      if (Date.now() > deadline)
        throw new Error(`gave up waiting for pid ${attempt.holder.pid} (${attempt.holder.command})`);
      await new Promise((r) => setTimeout(r, 200));
    }
  }

  /** The live process holding the lock, if any. */
  holder(): LockHolder | undefined {
    const current = this.read();
    const holder = current && parseHolder(current.text);
    return holder && isProcessAlive(holder) ? holder : undefined;
  }

  private read(): { text: string; mtimeMs: number } | undefined {
    try {
      return { text: readFileSync(this.path, 'utf8'), mtimeMs: statSync(this.path).mtimeMs };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
  }

  private breakDead(text: string): void {
    const marker = `${this.path}.break-${createHash('sha256').update(text).digest('hex').slice(0, 32)}`;
    try {
      writeFileSync(marker, JSON.stringify(thisProcess()), { flag: 'wx' });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EEXIST') return; // another process breaks it
      throw error;
    }
    this.releaseIf(text);
  }

  private releaseIf(text: string): void {
    if (this.read()?.text !== text) return;
    try {
      unlinkSync(this.path);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  }
}

function parseHolder(text: string): LockHolder | undefined {
  try {
    const d = JSON.parse(text) as Partial<LockHolder>;
    if (typeof d.pid === 'number' && typeof d.start === 'string')
      return {
        pid: d.pid,
        start: d.start,
        command: typeof d.command === 'string' ? d.command : 'unknown',
        since: typeof d.since === 'string' ? d.since : '',
      };
  } catch {
    // unreadable: see the caller
  }
  return undefined;
}
