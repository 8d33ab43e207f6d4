import { parseResyncMessage, ResyncReportError } from '../../../core';

const counters = { vbuckets: 10, vbucketsDone: 4, items: 100, bytes: 2048, seconds: 1.5, bytesPerSec: 1365 };
const progress = { type: 'progress', cluster: 'c', node: 'n1', ...counters };
const result = { type: 'result', status: 'succeeded', cluster: 'c', node: 'n1', epoch: 3, ...counters };

describe('parseResyncMessage', () => {
  it('given a progress line, then it is returned as progress', () => {
    expect(parseResyncMessage(JSON.stringify(progress))).toEqual(progress);
  });

  it('given a successful result, then it is returned', () => {
    expect(parseResyncMessage(result)).toEqual(result);
  });

  it('given a failed result naming vbuckets and sources, then it is returned', () => {
    const failed = {
      ...result,
      status: 'failed',
      error: 'no source for 2 vbuckets',
      failedVbuckets: [1, 2],
      failedSources: ['n2'],
    };
    expect(parseResyncMessage(failed)).toEqual(failed);
  });

  it('given a heal that declared vbuckets lost, then mode and vbucketsLost pass validation', () => {
    const healed = { ...result, mode: 'heal', vbucketsLost: [3, 9] };
    expect(parseResyncMessage(healed)).toEqual(healed);
  });

  it('given a cleanup report, then its mode passes validation', () => {
    const cleaned = { ...result, mode: 'cleanup', bytes: 0, bytesPerSec: 0 };
    expect(parseResyncMessage(cleaned)).toEqual(cleaned);
  });

  it('given a push report, then its mode passes validation', () => {
    const pushed = { ...result, mode: 'push' };
    expect(parseResyncMessage(pushed)).toEqual(pushed);
  });

  it.each([
    ['not json', /not JSON/],
    [[], /field document/],
    [{ ...progress, type: 'log' }, /field type/],
    [{ ...progress, node: '' }, /field node/],
    [{ ...progress, items: -1 }, /field items/],
    [{ ...progress, bytes: 'many' }, /field bytes/],
    [{ ...result, status: 'done' }, /field status/],
    [{ ...result, epoch: 1.5 }, /field epoch/],
    [{ ...result, failedVbuckets: ['a'] }, /field failedVbuckets/],
    [{ ...result, failedSources: [1] }, /field failedSources/],
    [{ ...result, error: 42 }, /field error/],
    [{ ...result, mode: 'repair' }, /field mode/],
    [{ ...result, vbucketsLost: 3 }, /field vbucketsLost/],
    [{ ...result, vbucketsLost: [1.5] }, /field vbucketsLost/],
    [{ ...result, status: 'failed' }, /field error/],
  ])('given %j, then it is rejected', (input, message) => {
    expect(() => parseResyncMessage(input)).toThrow(ResyncReportError);
    expect(() => parseResyncMessage(input)).toThrow(message);
  });
});
