import { GetParameterCommand, ParameterNotFound, SSMClient } from '@aws-sdk/client-ssm';
import { mockClient } from 'aws-sdk-client-mock';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { TopologySourceError } from '../../../client/errors';
import { ParameterStoreTopologySource } from '../../../client/parameter-store-source';
import { FileTopologySource, InMemoryTopologySource } from '../../../client/topology-source';
import { TopologyValidationError } from '../../../core';
import { tempDir } from '../../support/temp-dirs';

const doc = (epoch: number) => ({
  cluster: 'c1',
  epoch,
  servers: [{ id: 'n1', address: '127.0.0.1:11211' }],
});

describe('ParameterStoreTopologySource', () => {
  const ssm = mockClient(SSMClient);
  afterEach(() => ssm.reset());

  it('given a cluster, when read, then it gets /astaire/<cluster>/topology and parses it', async () => {
    ssm
      .on(GetParameterCommand, { Name: '/astaire/c1/topology' })
      .resolves({ Parameter: { Value: JSON.stringify(doc(4)) } });
    const source = new ParameterStoreTopologySource({
      ssm: new SSMClient({ region: 'eu-west-1' }),
      cluster: 'c1',
    });
    await expect(source.read()).resolves.toMatchObject({ cluster: 'c1', epoch: 4 });
  });

  it('given a parameter that does not parse, when read, then TopologyValidationError names the parameter and field', async () => {
    ssm
      .on(GetParameterCommand)
      .resolves({ Parameter: { Value: '{"cluster":"c1","epoch":-1,"servers":[]}' } });
    const source = new ParameterStoreTopologySource({ ssm: new SSMClient({}), parameter: '/x/topology' });
    const error = await source.read().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TopologyValidationError);
    expect((error as Error).message).toMatch(
      /^parameter \/x\/topology: epoch must be a non-negative integer/,
    );
  });

  it('given a missing parameter, when read, then TopologySourceError says it does not exist', async () => {
    ssm.on(GetParameterCommand).rejects(new ParameterNotFound({ message: 'nope', $metadata: {} }));
    const source = new ParameterStoreTopologySource({ ssm: new SSMClient({}), parameter: '/x/topology' });
    const error = await source.read().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(TopologySourceError);
    expect((error as Error).message).toBe('parameter /x/topology: does not exist');
  });

  it('given access denied, when read, then TopologySourceError carries the SDK error name', async () => {
    const denied = Object.assign(new Error('not authorized'), { name: 'AccessDeniedException' });
    ssm.on(GetParameterCommand).rejects(denied);
    const source = new ParameterStoreTopologySource({ ssm: new SSMClient({}), parameter: '/x/topology' });
    await expect(source.read()).rejects.toThrow(/cannot be read \(AccessDeniedException: not authorized\)/);
  });

  it('given a parameter without a value, or no name at all, when used, then TopologySourceError', async () => {
    ssm.on(GetParameterCommand).resolves({ Parameter: {} });
    await expect(
      new ParameterStoreTopologySource({ ssm: new SSMClient({}), parameter: '/p' }).read(),
    ).rejects.toThrow('parameter /p: does not exist');
    expect(() => new ParameterStoreTopologySource({ ssm: new SSMClient({}) })).toThrow(TopologySourceError);
  });
});

describe('FileTopologySource', () => {
  let dir: string;
  beforeEach(() => (dir = tempDir('astaire-topology-')));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('given a file, when it changes between reads, then each read returns its current content', async () => {
    const path = join(dir, 't.json');
    writeFileSync(path, JSON.stringify(doc(1)));
    const source = new FileTopologySource(path);
    await expect(source.read()).resolves.toMatchObject({ epoch: 1 });
    writeFileSync(path, JSON.stringify(doc(2)));
    await expect(source.read()).resolves.toMatchObject({ epoch: 2 });
  });

  it('given a missing file, when read, then TopologySourceError names the file and ENOENT', async () => {
    const source = new FileTopologySource(join(dir, 'none.json'));
    await expect(source.read()).rejects.toThrow(/file .*none\.json: cannot be read \(ENOENT\)/);
  });
});

describe('InMemoryTopologySource', () => {
  it('given a watcher, when the value is set, then it is told and the next read returns the new value', async () => {
    const source = new InMemoryTopologySource(doc(1));
    const seen: number[] = [];
    const stop = source.watch(() => seen.push(1));
    source.set(doc(2));
    await expect(source.read()).resolves.toMatchObject({ epoch: 2 });
    stop();
    source.set(doc(3));
    expect(seen).toEqual([1]);
  });

  it('given a malformed value, when read, then it fails like any source: TopologyValidationError', async () => {
    await expect(new InMemoryTopologySource('{nope').read()).rejects.toThrow(TopologyValidationError);
  });
});
