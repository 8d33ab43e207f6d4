import {
  METRIC_NAMESPACE,
  METRIC_UNITS,
  MetricDimension,
  MetricName,
  metricDimensions,
} from '../../../core/metrics';

describe('metrics contract', () => {
  test('given the namespace, when checked, then it is a custom one CloudWatch accepts', () => {
    expect(METRIC_NAMESPACE).toBe('Astaire');
    expect(METRIC_NAMESPACE.startsWith('AWS/')).toBe(false);
  });

  test('given every metric name, when checked, then each is a valid, distinct CloudWatch name with a unit', () => {
    const names = Object.values(MetricName);
    expect(new Set(names).size).toBe(names.length);
    for (const name of names) {
      expect(name).toMatch(/^[A-Za-z][A-Za-z0-9]{0,254}$/);
      expect(METRIC_UNITS[name]).toBeDefined();
    }
    expect(Object.keys(METRIC_UNITS).sort()).toEqual([...names].sort());
  });

  test('given a cluster and a node, when dimensions are built, then the datum goes out per cluster and per node', () => {
    expect(metricDimensions('web', 'i-0abc')).toEqual([
      { [MetricDimension.Cluster]: 'web' },
      { Cluster: 'web', Node: 'i-0abc' },
    ]);
  });
});
