import type { ResyncProgress } from '../../../core';
import { ProgressView } from '../../../cli/progress';

const p = (node: string, vbucketsDone: number, vbuckets: number, items: number): ResyncProgress => ({
  type: 'progress',
  cluster: 'local',
  node,
  vbuckets,
  vbucketsDone,
  items,
  bytes: items * 100,
  seconds: 2,
  bytesPerSec: items * 50,
});

/** The screen a terminal shows for `text`: lines, cursor-up (ESC[nF), clear-below (ESC[J), clear-line (ESC[2K). */
function screen(text: string): string[] {
  const lines: string[] = [''];
  let row = 0;
  const ESC = String.fromCharCode(27);
  const re = new RegExp(`${ESC}\\[(\\d*)([FJK])|\\n|[^${ESC}\\n]+`, 'g');
  for (const [token, n, op] of text.matchAll(re)) {
    if (token === '\n') {
      row++;
      if (lines.length <= row) lines.push('');
    } else if (op === 'F') row = Math.max(0, row - Number(n || 1));
    else if (op === 'J') {
      lines.length = row + 1;
      lines[row] = '';
    } else if (op === 'K') lines[row] = '';
    else lines[row] += token;
  }
  return lines.filter((l, i) => l !== '' || i < lines.length - 1);
}

describe('ProgressView', () => {
  it('given a terminal, when two nodes report three times and an execution ends, then the screen holds one line per node and per execution', () => {
    let out = '';
    const view = new ProgressView('tty', (t) => (out += t));
    view.note('2 -> 4: 2 lifecycle events');
    view.execution('i-3', 'launch i-3', 'running');
    for (let k = 1; k <= 3; k++) {
      view.node(p('i-3', k * 100, 300, k * 1000));
      view.node(p('i-4', k * 50, 150, k * 500));
      view.node(p('i-1', 0, 0, 0)); // nothing to pull: not shown
    }
    view.execution('i-3', 'launch i-3', 'SUCCEEDED in 3.0 s');
    const shown = screen(out);
    expect(shown).toHaveLength(4);
    expect(shown[0]).toBe('2 -> 4: 2 lifecycle events');
    expect(shown[1]).toBe('  launch i-3: SUCCEEDED in 3.0 s');
    expect(shown[2]).toMatch(/^ {2}i-3 \[#{20}\] vbuckets 300\/300, 3,000 items, 0\.3 MB, 0\.1 MB\/s, done$/);
    expect(shown[3]).toMatch(/^ {2}i-4 \[#{20}\] vbuckets 150\/150, 1,500 items/);
    expect(shown.join('\n')).not.toMatch(/i-1/);
  });

  it('given a terminal, when a note arrives mid-way, then it scrolls above the live lines', () => {
    let out = '';
    const view = new ProgressView('tty', (t) => (out += t));
    view.node(p('i-3', 100, 300, 1000));
    view.note('waiting for the cluster lock');
    view.node(p('i-3', 200, 300, 2000));
    expect(screen(out)).toEqual([
      'waiting for the cluster lock',
      expect.stringMatching(/^ {2}i-3 \[#{13}\.{7}\] vbuckets 200\/300, 2,000 items, .*ETA 1 s$/),
    ]);
  });

  it('given plain output, then lines are appended only when a counter changes, and a node with nothing to pull prints nothing', () => {
    const lines: string[] = [];
    const view = new ProgressView('plain', (t) => lines.push(t));
    view.node(p('i-3', 0, 300, 0));
    view.node(p('i-3', 0, 300, 0));
    view.node(p('i-3', 0, 300, 500));
    view.node(p('i-9', 0, 0, 0));
    expect(lines).toEqual([
      '  i-3 vbuckets 0/300, 0 items, 0.0 MB, 0.0 MB/s, ETA ?\n',
      '  i-3 vbuckets 0/300, 500 items, 0.1 MB, 0.0 MB/s, ETA ?\n',
    ]);
    expect(lines.join('')).not.toContain(String.fromCharCode(27));
  });

  it('given --json, then every update is one JSON line with its type', () => {
    const lines: string[] = [];
    const view = new ProgressView('json', (t) => lines.push(t));
    view.note('starting');
    view.execution('i-3', 'launch i-3', 'running');
    view.node(p('i-3', 150, 300, 1000));
    expect(lines.map((l) => JSON.parse(l))).toEqual([
      { type: 'note', message: 'starting' },
      { type: 'execution', executionId: 'i-3', label: 'launch i-3', state: 'running' },
      expect.objectContaining({ type: 'progress', node: 'i-3', vbucketsDone: 150, etaSeconds: 2 }),
    ]);
    expect(view.samples).toEqual([expect.objectContaining({ node: 'i-3', items: 1000 })]);
  });
});
