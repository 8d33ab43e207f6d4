import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderReport } from '../../../cli/report';
import { tempDir } from '../../support/temp-dirs';

// Issue 16: `--report FILE.html`, a self-contained page charting a local run.
const progress = [
  { t: 0, node: 'i-4', items: 0, bytes: 0, vbuckets: 300, vbucketsDone: 0 },
  { t: 1000, node: 'i-4', items: 1000, bytes: 100_000, vbuckets: 300, vbucketsDone: 0 },
  { t: 2000, node: 'i-4', items: 1500, bytes: 200_000, vbuckets: 300, vbucketsDone: 300 },
  { t: 500, node: 'i-5', items: 0, bytes: 0, vbuckets: 200, vbucketsDone: 0 },
  { t: 1500, node: 'i-5', items: 400, bytes: 40_000, vbuckets: 200, vbucketsDone: 200 },
];
const traffic = [
  { t: 0, ops: 0, misses: 0 },
  { t: 500, ops: 2000, misses: 0 },
  { t: 1000, ops: 4100, misses: 1 },
];
const html = renderReport({
  title: 'astaire local scale 5',
  progress,
  traffic,
  summary: 'total: 1,900 items <ok>',
});

describe('renderReport', () => {
  it('given two receiving nodes and client traffic, then one line per node and one each for operations and misses, on one page with nothing to fetch', () => {
    const series = [...html.matchAll(/<polyline data-series="([^"]+)"[^>]* points="([^"]*)"/g)].map((m) => [
      m[1],
      m[2].split(' ').length,
    ]);
    expect(series).toEqual([
      ['i-4', 2],
      ['i-5', 1],
      ['operations/s', 2],
      ['misses/s', 2],
    ]);
    // The peak rate is i-4's 1,000 items/s, the top of the first chart's axis.
    expect(html).toMatch(/>1,000<\/text>/);
    expect(html).not.toMatch(/<script|https?:\/\/(?!www\.w3\.org\/2000\/svg)/);
    expect(html).toContain('total: 1,900 items &lt;ok&gt;');
    expect(html).toMatch(/<td>i-4<\/td><td>1,500<\/td><td>0\.2<\/td><td>300\/300<\/td>/);
  });

  it('given a node idle between two phases, then its line breaks over the silence instead of sloping across it', () => {
    const twoPhases = renderReport({
      title: 't',
      progress: [
        { t: 0, node: 'i-4', items: 0, bytes: 0, vbuckets: 10, vbucketsDone: 0 },
        { t: 1000, node: 'i-4', items: 5000, bytes: 1, vbuckets: 10, vbucketsDone: 5 },
        { t: 2000, node: 'i-4', items: 9000, bytes: 1, vbuckets: 10, vbucketsDone: 10 },
        { t: 12_000, node: 'i-4', items: 9000, bytes: 1, vbuckets: 10, vbucketsDone: 0 },
        { t: 13_000, node: 'i-4', items: 12_000, bytes: 1, vbuckets: 10, vbucketsDone: 10 },
      ],
      traffic: [],
      summary: '',
    });
    const lines = [...twoPhases.matchAll(/<polyline data-series="i-4"[^>]* points="([^"]*)"/g)].map(
      (m) => m[1].split(' ').length,
    );
    expect(lines).toEqual([2, 1]);
  });

  it('given no traffic and no receiver, then it says so instead of drawing empty charts', () => {
    const empty = renderReport({ title: 't', progress: [], traffic: [], summary: '' });
    expect(empty).toMatch(/No node received data in this run/);
    expect(empty).toMatch(/No client traffic ran/);
  });

  const browser = ['chromium', 'chromium-browser', 'google-chrome', 'google-chrome-stable']
    .flatMap((b) => ['/usr/bin/', '/usr/local/bin/', '/snap/bin/'].map((d) => d + b))
    .find((p) => existsSync(p));
  if (!browser)
    process.stdout.write(
      'report screenshot test skipped: no Chromium installed (apt-get install chromium)\n',
    );
  (browser ? it : it.skip)('given a real browser, then the page renders to a non-blank screenshot', () => {
    const dir = tempDir('astaire-report-');
    const page = join(dir, 'report.html');
    const shot = join(dir, 'report.png');
    writeFileSync(page, html);
    execFileSync(
      browser!,
      [
        '--headless',
        '--no-sandbox',
        '--disable-gpu',
        `--user-data-dir=${join(dir, 'profile')}`,
        `--screenshot=${shot}`,
        '--window-size=960,900',
        `file://${page}`,
      ],
      { stdio: 'ignore', timeout: 60_000 },
    );
    expect(statSync(shot).size).toBeGreaterThan(10_000);
    expect(readFileSync(shot).subarray(1, 4).toString()).toBe('PNG');
  });
});
