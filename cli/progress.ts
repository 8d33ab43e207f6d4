import type { ResyncProgress } from '../core';
import type { CommandIo } from './command';

/**
 * Live progress of local migrations, three ways:
 * - `tty`: one line per receiving node (a bar of vbuckets done of total, items, MB, rate, ETA) and
 *   one per execution, redrawn in place; notes scroll above them;
 * - `plain`: append-only lines, a node's only when its counters changed;
 * - `json`: one JSON object per line (`{"type":"progress"|"execution"|"note", ...}`).
 * A node with nothing to pull shows nothing. Every sample is kept for the HTML report.
 */
export type ProgressMode = 'tty' | 'plain' | 'json';

export interface ProgressSample {
  /** Milliseconds since the view started. */
  readonly t: number;
  readonly node: string;
  readonly items: number;
  readonly bytes: number;
  readonly vbuckets: number;
  readonly vbucketsDone: number;
}

interface ExecutionLine {
  readonly label: string;
  readonly since: number;
  state: string;
}

const BAR = 20;

export class ProgressView {
  readonly samples: ProgressSample[] = [];
  private readonly nodes = new Map<string, ResyncProgress>();
  private readonly printed = new Map<string, string>();
  private readonly executions = new Map<string, ExecutionLine>();
  /** Lines of the live block on the screen now (tty). */
  private drawn = 0;
  private readonly started: number;

  constructor(
    readonly mode: ProgressMode,
    private readonly write: (text: string) => void,
    private readonly now: () => number = Date.now,
  ) {
    this.started = now();
  }

  /** A view on a command's output: json when asked, tty when stdout is a terminal, else plain lines. */
  static for(io: CommandIo, json: boolean): ProgressView {
    const write =
      io.write ??
      ((text: string) =>
        text
          .replace(/\n$/, '')
          .split('\n')
          .forEach((l) => io.out(l)));
    return new ProgressView(json ? 'json' : io.isTTY && io.write ? 'tty' : 'plain', write);
  }

  /** A line that is not progress (a phase starts, a wait begins): above the live block on a terminal. */
  note(line: string): void {
    if (this.mode === 'json') return this.write(`${JSON.stringify({ type: 'note', message: line })}\n`);
    if (this.mode === 'plain') return this.write(`${line}\n`);
    this.clear();
    this.write(`${line}\n`);
    this.draw();
  }

  /** A node's counters; a node with nothing to pull is not shown. */
  node(p: ResyncProgress): void {
    if (p.vbuckets === 0 && p.items === 0) return;
    this.nodes.set(p.node, p);
    this.samples.push({
      t: this.now() - this.started,
      node: p.node,
      items: p.items,
      bytes: p.bytes,
      vbuckets: p.vbuckets,
      vbucketsDone: p.vbucketsDone,
    });
    if (this.mode === 'json') return this.write(`${JSON.stringify({ ...p, etaSeconds: eta(p) ?? null })}\n`);
    if (this.mode === 'tty') return this.redraw();
    const line = nodeLine(p, false);
    const key = `${p.vbucketsDone}/${p.items}`;
    if (this.printed.get(p.node) === key) return;
    this.printed.set(p.node, key);
    this.write(`${line}\n`);
  }

  /** An execution's state (running, SUCCEEDED, FAILED ...), under a label such as "launch i-0004". */
  execution(id: string, label: string, state: string): void {
    const line = this.executions.get(id);
    if (line) line.state = state;
    else this.executions.set(id, { label, state, since: this.now() });
    if (this.mode === 'json')
      return this.write(`${JSON.stringify({ type: 'execution', executionId: id, label, state })}\n`);
    if (this.mode === 'plain') return this.write(`  ${label}: ${state}\n`);
    this.redraw();
  }

  /** Milliseconds since the view started (the time axis of its samples). */
  elapsed(): number {
    return this.now() - this.started;
  }

  /** Redraws the block (a terminal's elapsed times move on even when no counter does). */
  tick(): void {
    if (this.mode === 'tty' && this.drawn) this.redraw();
  }

  /** Ends the live block: what is on the screen stays, later output goes below it. */
  finish(): void {
    this.drawn = 0;
    this.nodes.clear();
    this.executions.clear();
    this.printed.clear();
  }

  /** The latest counters of each node shown. */
  latest(): ResyncProgress[] {
    return [...this.nodes.values()];
  }

  private lines(): string[] {
    return [
      ...[...this.executions.values()].map(
        (e) =>
          `  ${e.label}: ${e.state}${e.state === 'running' ? ` for ${Math.round((this.now() - e.since) / 1000)} s` : ''}`,
      ),
      ...[...this.nodes.values()].map((p) => nodeLine(p, true)),
    ];
  }

  private clear(): void {
    if (this.drawn) this.write(`\x1b[${this.drawn}F\x1b[J`);
    this.drawn = 0;
  }

  private draw(): void {
    const lines = this.lines();
    if (lines.length) this.write(`${lines.map((l) => `\x1b[2K${l}`).join('\n')}\n`);
    this.drawn = lines.length;
  }

  private redraw(): void {
    this.clear();
    this.draw();
  }
}

/** Seconds left at the vbucket rate so far, when it can be told. */
function eta(p: ResyncProgress): number | undefined {
  if (p.vbucketsDone >= p.vbuckets) return 0;
  if (p.vbucketsDone === 0 || p.seconds <= 0) return undefined;
  return Math.round(((p.vbuckets - p.vbucketsDone) * p.seconds) / p.vbucketsDone);
}

export function nodeLine(p: ResyncProgress, bar: boolean): string {
  const done = p.vbuckets ? Math.min(1, p.vbucketsDone / p.vbuckets) : 1;
  const filled = Math.round(done * BAR);
  const left = eta(p);
  return [
    `  ${p.node}`,
    bar ? ` [${'#'.repeat(filled)}${'.'.repeat(BAR - filled)}]` : '',
    ` vbuckets ${p.vbucketsDone}/${p.vbuckets}`,
    `, ${p.items.toLocaleString('en')} items`,
    `, ${(p.bytes / 1e6).toFixed(1)} MB`,
    `, ${(p.bytesPerSec / 1e6).toFixed(1)} MB/s`,
    left === 0 ? ', done' : `, ETA ${left === undefined ? '?' : `${left} s`}`,
  ].join('');
}
