import { execFile, execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { parseTopology, placementOf, vbucketOf } from '../../core';
import { keyOf } from '../../local/dataset';
import { tempDir } from '../support/temp-dirs';

// Issue 16: what an operator sees on a terminal during `astaire local scale`, captured from a real
// tmux pane: one line per receiving node, redrawn in place, and a final summary whose item total is
// what the receiving nodes must hold (every loaded key counted once per new replica on them).
jest.setTimeout(180_000);
const run = promisify(execFile);
const cli = resolve(__dirname, '..', '..', 'dist', 'cli', 'astaire.js');
const dir = tempDir('astaire-tmux-');
const stateDir = join(dir, 'state');
const socket = join(dir, 'tmux.sock');
const report = join(dir, 'scale.html');
const env = { ...process.env, AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED: 'true' };
const ITEMS = 20_000;
const hasTmux = ['/usr/bin/tmux', '/usr/local/bin/tmux'].some((p) => existsSync(p));

const astaire = (...args: string[]) =>
  run(process.execPath, [cli, 'local', ...args, '--state-dir', stateDir], { env, timeout: 120_000 });
const tmux = (...args: string[]) => execFileSync('tmux', ['-S', socket, ...args], { encoding: 'utf8' });

afterAll(async () => {
  if (hasTmux && existsSync(socket)) {
    try {
      tmux('kill-server');
    } catch {
      // already gone with its only session
    }
  }
  if (existsSync(join(stateDir, 'session.json'))) await astaire('down');
});

if (!hasTmux) process.stdout.write('tmux progress test skipped: tmux is not installed\n');
(hasTmux ? describe : describe.skip)('astaire local scale on a terminal (tmux)', () => {
  it('given 2 nodes with 20,000 items, when scaled to 4 in a tmux pane, then each receiving node has one redrawn line and the summary total is what the new nodes must hold', async () => {
    await astaire('up', '--nodes', '2');
    await astaire('load', '--items', String(ITEMS));

    const command = [
      process.execPath,
      cli,
      'local',
      'scale',
      '4',
      '--state-dir',
      stateDir,
      '--report',
      report,
    ]
      .map((a) => `'${a}'`)
      .join(' ');
    tmux(
      'new-session',
      '-d',
      '-s',
      'scale',
      '-x',
      '200',
      '-y',
      '60',
      `env AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED=true ${command}; echo "EXIT=$?"; sleep 120`,
    );
    const screens: string[] = [];
    const deadline = Date.now() + 120_000;
    while (Date.now() < deadline) {
      const screen = tmux('capture-pane', '-p', '-t', 'scale');
      screens.push(screen);
      if (/^EXIT=\d+$/m.test(screen)) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    const last = screens.at(-1)!;
    expect(last).toMatch(/^EXIT=0$/m);

    // Redrawn in place: on no screen does a node have two progress lines.
    const nodeLines = (screen: string) =>
      screen.split('\n').filter((l) => /^ {2}i-[0-9a-f]+ \[[#.]{20}\]/.test(l));
    for (const screen of screens) {
      const nodes = nodeLines(screen).map((l) => l.trim().split(' ')[0]);
      expect(nodes).toEqual([...new Set(nodes)]);
    }
    // Live: some screen showed a node on its way, before its line reached its total.
    expect(screens.some((screen) => nodeLines(screen).some((l) => !l.endsWith(', done')))).toBe(true);
    // The final screen: one line per receiving node, each at its total.
    const final = nodeLines(last);
    const received = [...last.matchAll(/^ {4}(i-[0-9a-f]+) received ([\d,]+) items/gm)].map((m) => ({
      node: m[1],
      items: Number(m[2].replace(/,/g, '')),
    }));
    const receivers = [...new Set(received.map((r) => r.node))].sort();
    expect(final.map((l) => l.trim().split(' ')[0]).sort()).toEqual(receivers);
    for (const line of final) expect(line).toMatch(/, done$/);
    const shown = final.reduce((n, l) => n + Number(/([\d,]+) items/.exec(l)![1].replace(/,/g, '')), 0);
    const total = Number(
      /^total: ([\d,]+) items \([\d.]+ MB\) received by \d+ nodes?$/m.exec(last)![1].replace(/,/g, ''),
    );
    expect(received.reduce((n, r) => n + r.items, 0)).toBe(total);
    expect(shown).toBe(total);

    // The verify count: every loaded key once per replica it has on the nodes that received data.
    const topology = parseTopology(readFileSync(join(stateDir, 'local.topology.json'), 'utf8'), 'topology');
    const placement = placementOf(topology);
    let expected = 0;
    for (let i = 0; i < ITEMS; i++)
      expected += placement
        .replicasOf(vbucketOf(keyOf(i), topology.vbuckets))
        .filter((id) => receivers.includes(id)).length;
    expect(total).toBe(expected);
    const verified = await astaire('verify');
    expect(verified.stdout).toMatch(/20,000 items checked: 0 missing/);

    // The report of the same run charts each receiving node.
    const html = readFileSync(report, 'utf8');
    for (const node of receivers) expect(html).toContain(`data-series="${node}"`);
    process.stdout.write(`tmux: final screen of astaire local scale 2 -> 4\n${last.trimEnd()}\n`);
  });
});
