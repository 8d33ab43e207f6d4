import { spawn } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { isComplete, readNodeState } from '../agent/marker';
import { parseResyncMessage, parseTopology, ResyncProgress, ResyncReport } from '../core';

export interface HealWatcherOptions {
  /** The local topology file (the stand-in for `/astaire/<cluster>/topology`). */
  readonly topologyFile: string;
  /** The compiled agent CLI (dist/agent/cli.js). */
  readonly agentScript: string;
  /** How often every member is checked. @default 2000 */
  readonly intervalMs?: number;
  readonly onProgress?: (progress: ResyncProgress) => void;
  /** Each heal that ran, whatever its outcome. */
  readonly onHeal?: (outcome: HealOutcome) => void;
  /** Diagnostics. */
  readonly log?: (line: string) => void;
}

/** One heal the watcher ran. */
export interface HealOutcome {
  readonly node: string;
  readonly address: string;
  readonly status: 'succeeded' | 'failed';
  /** The agent's report (absent when the agent died without one). */
  readonly report?: ResyncReport;
  readonly error?: string;
}

/**
 * Local mode's stand-in for the nodes' astaire-heal timer: every interval it looks at each member of
 * the topology (one `stats` and one `mg` of its completeness marker), and runs `astaire-agent heal` for
 * a member that answers without its marker: its memcached restarted or was flushed. A member that does
 * not answer is left alone (nothing to fill yet); one heal per node at a time.
 */
export class HealWatcher {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<HealOutcome[]> | undefined;
  private stopped = false;

  constructor(private readonly o: HealWatcherOptions) {}

  get topologyFile(): string {
    return this.o.topologyFile;
  }

  start(): void {
    const tick = () => {
      if (this.stopped) return;
      this.checkOnce()
        .catch((e: unknown) => this.o.log?.(`heal check failed: ${(e as Error).message}`))
        .finally(() => {
          if (!this.stopped) this.timer = setTimeout(tick, this.o.intervalMs ?? 2000);
        });
    };
    tick();
  }

  /** Stops checking; resolves when a heal under way has ended. */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    await this.running?.catch(() => undefined);
  }

  /** Checks every member once and heals those that need it; resolves with the heals that ran. */
  checkOnce(): Promise<HealOutcome[]> {
    this.running ??= this.check().finally(() => (this.running = undefined));
    return this.running;
  }

  private async check(): Promise<HealOutcome[]> {
    const topology = parseTopology(await readFile(this.o.topologyFile, 'utf8'), this.o.topologyFile);
    const outcomes: HealOutcome[] = [];
    for (const server of topology.servers) {
      if (this.stopped) break;
      const state = await readNodeState(server.address, { connectTimeoutMs: 1000 }).catch(() => undefined);
      if (!state || isComplete(state, topology.cluster, server.id)) continue;
      this.o.log?.(`node ${server.id} (${server.address}) is not a complete replica: healing it`);
      const outcome = await this.heal(server.id, server.address);
      this.o.onHeal?.(outcome);
      outcomes.push(outcome);
    }
    return outcomes;
  }

  private async heal(node: string, address: string): Promise<HealOutcome> {
    const args = [
      this.o.agentScript,
      'heal',
      '--node',
      node,
      '--topology',
      this.o.topologyFile,
      '--local',
      address,
      '--json',
      '--progress-interval-ms',
      '1000',
    ];
    const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => {
      stderr = (stderr + chunk.toString()).slice(-4000);
    });
    let report: ResyncReport | undefined;
    createInterface({ input: child.stdout }).on('line', (line) => {
      if (!line.trim()) return;
      try {
        const message = parseResyncMessage(line);
        if (message.type === 'progress') this.o.onProgress?.(message);
        else report = message;
      } catch {
        // Not the agent's JSON: its stderr says what went wrong.
      }
    });
    const code = await new Promise<number | null>((resolve) => {
      child.once('error', () => resolve(null));
      child.once('close', (c) => resolve(c));
    });
    if (code === 0) return { node, address, status: 'succeeded', ...(report ? { report } : {}) };
    const error = report?.error ?? (stderr.trim().split('\n').pop() || `agent exited with code ${code}`);
    this.o.log?.(`heal of ${node} failed: ${error}`);
    return { node, address, status: 'failed', error, ...(report ? { report } : {}) };
  }
}
