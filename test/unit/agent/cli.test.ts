import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { SendTaskFailureCommand, SFNClient } from '@aws-sdk/client-sfn';
import { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { EXIT_FAILED, EXIT_OK, EXIT_USAGE, main, parseCommandLine, supersededBy } from '../../../agent/cli';
import { UsageError } from '../../../agent/errors';
import { parseResyncMessage, parseTopology } from '../../../core';
import { tempDir } from '../../support/temp-dirs';

const ssm = mockClient(SSMClient);
const sfnMock = mockClient(SFNClient);
mockClient(CloudWatchClient);

async function run(argv: string[], env: Record<string, string> = {}) {
  let stdout = '';
  let stderr = '';
  const code = await main(argv, {
    stdout: (t) => (stdout += t),
    stderr: (t) => (stderr += t),
    env,
    aws: {
      ssm: () => new SSMClient({}),
      sfn: () => new SFNClient({ region: 'eu-west-1' }),
      cloudWatch: () => new CloudWatchClient({ region: 'eu-west-1' }),
    },
  });
  return { code, stdout, stderr };
}

function topologyFile(doc: unknown): string {
  const file = join(tempDir('agent-cli-'), 'topology.json');
  writeFileSync(file, JSON.stringify(doc));
  return file;
}

const servers = [{ id: 'n1', address: '127.0.0.1:1' }];

describe('astaire-agent command line', () => {
  it('given both --topology and --parameter, when parsed, then it is a usage error', () => {
    expect(() => parseCommandLine(['resync', '--node', 'n', '--topology', 'f', '--parameter', 'p'])).toThrow(
      UsageError,
    );
  });

  it('given a non-numeric --max-bytes-per-sec, when parsed, then the reason names the flag', () => {
    expect(() =>
      parseCommandLine(['resync', '--node', 'n', '--topology', 'f', '--max-bytes-per-sec', '1e6']),
    ).toThrow(/--max-bytes-per-sec/);
  });

  it('given --max-source-latency-ms, when parsed, then milliseconds (0 turns the adaptive throttle off) or a reason naming the flag', () => {
    const base = ['resync', '--node', 'n', '--topology', 'f'];
    expect(parseCommandLine([...base, '--max-source-latency-ms', '2.5'])).toMatchObject({
      maxSourceLatencyMs: 2.5,
    });
    expect(parseCommandLine([...base, '--max-source-latency-ms', '0'])).toMatchObject({
      maxSourceLatencyMs: 0,
    });
    expect(parseCommandLine(base)).toMatchObject({ maxSourceLatencyMs: undefined });
    expect(() => parseCommandLine([...base, '--max-source-latency-ms', '-1'])).toThrow(
      /--max-source-latency-ms/,
    );
    expect(() => parseCommandLine([...base, '--max-source-latency-ms', 'fast'])).toThrow(
      /--max-source-latency-ms/,
    );
  });

  it('given a --spill-dir that is not a directory, when parsed, then the reason names the flag', () => {
    expect(() =>
      parseCommandLine(['resync', '--node', 'n', '--topology', 'f', '--spill-dir', '/nonexistent/astaire']),
    ).toThrow(/--spill-dir must be a writable directory/);
    expect(
      parseCommandLine(['resync', '--node', 'n', '--topology', 'f', '--spill-dir', tmpdir()]),
    ).toMatchObject({ spillDir: tmpdir() });
  });

  it('given --no-crawl-proof, when parsed, then the proof is off; by default it is on', () => {
    expect(parseCommandLine(['resync', '--node', 'n', '--topology', 'f'])).toMatchObject({
      crawlProof: true,
    });
    expect(parseCommandLine(['resync', '--node', 'n', '--topology', 'f', '--no-crawl-proof'])).toMatchObject({
      crawlProof: false,
    });
  });

  it('given --crawl-walk, when parsed, then it is auto by default, lru or hash when given, and anything else is refused', () => {
    const base = ['push', '--node', 'n', '--topology', 'f'];
    expect(parseCommandLine(base)).toMatchObject({ crawlWalk: 'auto' });
    expect(parseCommandLine([...base, '--crawl-walk', 'hash'])).toMatchObject({ crawlWalk: 'hash' });
    expect(parseCommandLine([...base, '--crawl-walk', 'lru'])).toMatchObject({ crawlWalk: 'lru' });
    expect(() => parseCommandLine([...base, '--crawl-walk', 'all'])).toThrow(
      '--crawl-walk must be one of auto, lru, hash, got "all"',
    );
  });

  it('given push and receive, when parsed, then receive is a resync that expects pushes, and the push flags apply to them only', () => {
    expect(
      parseCommandLine(['receive', '--node', 'n', '--topology', 'f', '--push-wait-ms', '5000']),
    ).toMatchObject({
      command: 'receive',
      expectPushes: true,
      pushWaitMs: 5000,
    });
    expect(parseCommandLine(['resync', '--node', 'n', '--topology', 'f'])).toMatchObject({
      expectPushes: false,
    });
    expect(parseCommandLine(['resync', '--node', 'n', '--topology', 'f', '--expect-pushes'])).toMatchObject({
      expectPushes: true,
    });
    expect(parseCommandLine(['push', '--node', 'n', '--topology', 'f'])).toMatchObject({ command: 'push' });
    expect(() => parseCommandLine(['push', '--node', 'n', '--topology', 'f', '--expect-pushes'])).toThrow(
      /--expect-pushes applies to resync only/,
    );
    expect(() =>
      parseCommandLine(['cleanup', '--node', 'n', '--topology', 'f', '--push-wait-ms', '5']),
    ).toThrow(/--push-wait-ms applies to resync and push only/);
  });

  it('given cleanup, when parsed, then it is the cleanup command with its own rate cap; resync flags are refused', () => {
    expect(
      parseCommandLine(['cleanup', '--node', 'n', '--topology', 'f', '--max-deletes-per-sec', '500']),
    ).toMatchObject({ command: 'cleanup', maxDeletesPerSec: 500 });
    expect(parseCommandLine(['resync', '--node', 'n', '--topology', 'f'])).toMatchObject({
      command: 'resync',
    });
    expect(() =>
      parseCommandLine(['resync', '--node', 'n', '--topology', 'f', '--max-deletes-per-sec', '5']),
    ).toThrow(/--max-deletes-per-sec applies to cleanup only/);
    expect(() =>
      parseCommandLine(['cleanup', '--node', 'n', '--topology', 'f', '--max-bytes-per-sec', '5']),
    ).toThrow(/--max-bytes-per-sec applies to resync and heal only/);
    expect(() => parseCommandLine(['purge', '--node', 'n', '--topology', 'f'])).toThrow(
      /unknown command: purge/,
    );
  });

  it('given a topology with a migration in progress, when cleanup runs, then it exits 2 and says to run it after the commit', async () => {
    const r = await run([
      'cleanup',
      '--node',
      'n1',
      '--topology',
      topologyFile({ cluster: 'c', epoch: 2, servers, newServers: servers }),
    ]);
    expect(r.code).toBe(EXIT_USAGE);
    expect(r.stderr).toMatch(/migration in progress: cleanup runs only against a committed topology/);
  });

  it('given a node that is not a member, when cleanup runs, then it exits 2 naming the node', async () => {
    const r = await run([
      'cleanup',
      '--node',
      'n9',
      '--topology',
      topologyFile({ cluster: 'c', epoch: 1, servers }),
    ]);
    expect(r.code).toBe(EXIT_USAGE);
    expect(r.stderr).toMatch(/node n9 is not in the servers of cluster c/);
  });

  it('given a topology without newServers, when run, then it exits 2 with a one-line reason', async () => {
    const r = await run([
      'resync',
      '--node',
      'n1',
      '--topology',
      topologyFile({ cluster: 'c', epoch: 1, servers }),
      '--json',
    ]);
    expect(r.code).toBe(EXIT_USAGE);
    expect(r.stderr).toMatch(/no newServers/);
    expect(r.stdout).toBe('');
  });

  it('given a node with nothing to pull whose memcached does not answer, when run with --json, then it fails and the last line says why', async () => {
    // Nothing to pull still proves the node's own memcached answers: the workflow's readiness gate.
    const file = topologyFile({ cluster: 'c', epoch: 2, servers, newServers: servers });
    const r = await run(['resync', '--node', 'n1', '--topology', file, '--local', '127.0.0.1:1', '--json']);
    expect(r.code).toBe(EXIT_FAILED);
    const lines = r.stdout.trim().split('\n');
    expect(parseResyncMessage(lines[lines.length - 1])).toMatchObject({
      type: 'result',
      status: 'failed',
      items: 0,
      vbuckets: 0,
      error: expect.stringMatching(/LocalMemcachedError: local memcached 127.0.0.1:1 is unreachable/),
    });
  });

  it('given a malformed parameter in Parameter Store, when run, then it exits 2 naming the parameter', async () => {
    ssm.on(GetParameterCommand).resolves({ Parameter: { Value: '{"cluster":' } });
    const r = await run(['resync', '--node', 'n1', '--parameter', '/astaire/c/topology']);
    expect(r.code).toBe(EXIT_USAGE);
    expect(r.stderr).toMatch(/parameter \/astaire\/c\/topology/);
  });

  describe('given a Step Functions task token', () => {
    beforeEach(() => sfnMock.reset());

    it('when the command line is bad, then the task fails at once instead of waiting for the heartbeat timeout', async () => {
      const r = await run(['resync', '--node', 'n1', '--max-passes', 'x', '--task-token', 'tok-1']);
      expect(r.code).toBe(EXIT_USAGE);
      const calls = sfnMock.commandCalls(SendTaskFailureCommand);
      expect(calls).toHaveLength(1);
      expect(calls[0].args[0].input).toMatchObject({
        taskToken: 'tok-1',
        error: 'ResyncFailed',
        cause: expect.stringMatching(
          /^astaire-agent usage: give exactly one of --topology FILE and --parameter NAME$/,
        ),
      });
    });

    it('when the topology cannot be read, then the task fails naming why, with the token from ASTAIRE_TASK_TOKEN', async () => {
      ssm.on(GetParameterCommand).resolves({ Parameter: { Value: '{"cluster":' } });
      const r = await run(['resync', '--node', 'n1', '--parameter', '/astaire/c/topology'], {
        ASTAIRE_TASK_TOKEN: 'tok-env',
      });
      expect(r.code).toBe(EXIT_USAGE);
      expect(sfnMock.commandCalls(SendTaskFailureCommand)[0].args[0].input).toMatchObject({
        taskToken: 'tok-env',
        error: 'ResyncFailed',
        cause: expect.stringMatching(/could not read the topology: parameter \/astaire\/c\/topology/),
      });
    });

    it('when a cleanup is refused, then the task fails with CleanupFailed, the error the workflow records', async () => {
      const file = topologyFile({ cluster: 'c', epoch: 2, servers, newServers: servers });
      const r = await run(['cleanup', '--node', 'n1', '--topology', file], { ASTAIRE_TASK_TOKEN: 'tok' });
      expect(r.code).toBe(EXIT_USAGE);
      expect(sfnMock.commandCalls(SendTaskFailureCommand)[0].args[0].input).toMatchObject({
        taskToken: 'tok',
        error: 'CleanupFailed',
        cause: expect.stringMatching(/migration in progress: cleanup runs only against a committed topology/),
      });
    });

    it('when the node is not in the topology, then the task fails naming it', async () => {
      const file = topologyFile({ cluster: 'c', epoch: 2, servers, newServers: servers });
      const r = await run(['resync', '--node', 'stranger', '--topology', file], {
        ASTAIRE_TASK_TOKEN: 'tok',
      });
      expect(r.code).toBe(EXIT_USAGE);
      expect(sfnMock.commandCalls(SendTaskFailureCommand)[0].args[0].input.cause).toMatch(
        /node stranger is in neither servers nor newServers/,
      );
    });
  });

  it('given the topology an agent started with, when the topology moves on, then supersededBy says why; while it stays, nothing', () => {
    const started = parseTopology(
      {
        cluster: 'c',
        epoch: 5,
        servers,
        newServers: servers,
        migration: { executionId: 'exec-1', startedAt: '2026-11-27T00:00:00Z' },
      },
      't',
    );
    expect(supersededBy(started, started)).toBeUndefined();
    expect(
      supersededBy(started, { ...started, epoch: 6, newServers: undefined, migration: undefined }),
    ).toMatch(
      /epoch 5, execution exec-1\) is no longer current: the topology is at epoch 6, with no migration/,
    );
    expect(
      supersededBy(started, { ...started, epoch: 7, migration: { executionId: 'exec-2', startedAt: 'x' } }),
    ).toMatch(/migrating for exec-2/);
  });

  it('given --help, when run, then the usage goes to stdout and it exits 0', async () => {
    const r = await run(['--help']);
    expect(r.code).toBe(EXIT_OK);
    expect(r.stdout).toMatch(/Usage: astaire-agent resync/);
  });
});
