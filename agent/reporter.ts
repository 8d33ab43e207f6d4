import { ResyncProgress, ResyncReport } from '../core';

/** Where a resync tells the world how it is doing: a port with the two calls the migrator makes. */
export interface ResyncReporter {
  progress(progress: ResyncProgress): Promise<void>;
  /** The final word; called exactly once. */
  finish(report: ResyncReport): Promise<void>;
}

/** Local mode: one JSON object per line (`--json`); the last line is the report. */
export class JsonLinesReporter implements ResyncReporter {
  constructor(private readonly write: (line: string) => void) {}

  async progress(progress: ResyncProgress): Promise<void> {
    this.write(`${JSON.stringify(progress)}\n`);
  }

  async finish(report: ResyncReport): Promise<void> {
    this.write(`${JSON.stringify(report)}\n`);
  }
}

/** For people at a terminal: one short line per update, on stderr. */
export class TextReporter implements ResyncReporter {
  constructor(
    private readonly write: (line: string) => void,
    /** What runs: `resync` or `cleanup`. */
    private readonly label = 'resync',
  ) {}

  async progress(p: ResyncProgress): Promise<void> {
    this.write(
      `${this.label} ${p.node}: ${p.vbucketsDone}/${p.vbuckets} vbuckets, ${p.items} items, ${formatBytes(p.bytes)} in ${p.seconds.toFixed(1)} s (${formatBytes(p.bytesPerSec)}/s)\n`,
    );
  }

  async finish(r: ResyncReport): Promise<void> {
    const head = `${this.label} ${r.node} ${r.status}: ${r.vbucketsDone}/${r.vbuckets} vbuckets, ${r.items} items, ${formatBytes(r.bytes)} in ${r.seconds.toFixed(1)} s`;
    this.write(r.status === 'succeeded' ? `${head}\n` : `${head}: ${r.error}\n`);
  }
}

/** Fans out to several reporters; one failing reporter does not silence the others. */
export class FanOutReporter implements ResyncReporter {
  constructor(
    private readonly reporters: readonly ResyncReporter[],
    private readonly onError: (error: unknown) => void,
  ) {}

  async progress(progress: ResyncProgress): Promise<void> {
    await Promise.all(this.reporters.map((r) => r.progress(progress).catch(this.onError)));
  }

  async finish(report: ResyncReport): Promise<void> {
    await Promise.all(this.reporters.map((r) => r.finish(report).catch(this.onError)));
  }
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${Math.round(n)} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  if (n < 1024 * 1024 * 1024) return `${(n / 1024 / 1024).toFixed(1)} MiB`;
  return `${(n / 1024 / 1024 / 1024).toFixed(2)} GiB`;
}
