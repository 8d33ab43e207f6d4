import { stateMachineArnParameterName } from '../../../core/parameter-names';
import { parameterName } from '../../../core/topology';

describe('parameter names', () => {
  test('given a cluster, when its workflow parameter is named, then it sits beside the topology under /astaire/<cluster>/', () => {
    expect(stateMachineArnParameterName('web')).toBe('/astaire/web/state-machine-arn');
    expect(parameterName('web').replace(/topology$/, '')).toBe(
      stateMachineArnParameterName('web').replace(/state-machine-arn$/, ''),
    );
  });
});
