import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import { Construct } from 'constructs';
import { StateNames as S } from './state-names';

export interface PushPhaseProps {
  /** The SSM task that runs `astaire-agent push` on the Map item's node (the workflow's agent command). */
  readonly pushNode: sfn.TaskStateBase;
}

/**
 * The sources' pushes, beside the receivers' Map (a branch of MigrateData): every source the plan lists
 * in `$.plan.pushes` runs `astaire-agent push`, crawling itself once for all its receivers. All at once
 * (a receiver waits for its pushers, a pusher for its receivers to be ready). A push that fails fails
 * nothing: its receivers pull what it did not push, and the error is kept in the Map's result
 * (`pushError`) for the record.
 */
export function pushPhase(scope: Construct, props: PushPhaseProps): sfn.Map {
  const failed = new sfn.Pass(scope, S.PushNodeFailed, { stateName: S.PushNodeFailed });
  props.pushNode.addCatch(failed, { errors: [sfn.Errors.ALL], resultPath: '$.pushError' });
  const map = new sfn.Map(scope, S.PushNodes, {
    stateName: S.PushNodes,
    itemsPath: '$.plan.pushes',
    itemSelector: {
      'cluster.$': '$.request.cluster',
      'epoch.$': '$.plan.epoch',
      'node.$': '$$.Map.Item.Value.node',
      'address.$': '$$.Map.Item.Value.address',
    },
    maxConcurrency: 0,
    resultPath: sfn.JsonPath.DISCARD,
  });
  map.itemProcessor(props.pushNode);
  return map;
}
