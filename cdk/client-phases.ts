import { Duration } from 'aws-cdk-lib';
import * as sfn from 'aws-cdk-lib/aws-stepfunctions';
import type * as tasks from 'aws-cdk-lib/aws-stepfunctions-tasks';
import { Construct } from 'constructs';
import { StateNames as S } from './state-names';

/** Builds one agent command (SSM sendCommand.waitForTaskToken) with its parameters at these paths. */
export type AgentCommandFactory = (
  name: string,
  mode: 'await-clients' | 'publish',
  at: { cluster: string; node: string; epoch: string; address: string },
  resultPath?: string,
) => tasks.CallAwsService;
type CatchTo = (state: sfn.TaskStateBase, next: sfn.IChainable, resultPath: string) => void;

/**
 * The workflow's dealings with the clients (issue 15, docs/client-protocol.md): the topology is
 * published on every node by the agent on one member (`$.plan.publisher`; the Lambdas are outside the
 * VPC and cannot reach memcached), and the agents start only once every live client acknowledges the
 * migration's epoch. A fragment of the definition, so that the failure path's edits stay apart.
 */
export class ClientPhases {
  constructor(private readonly scope: Construct) {}

  /**
   * WaitForClients (clientPropagationDelay: now a minimum, for clients that read a file or Parameter
   * Store) → AwaitClients (publish the migration's topology, wait for every live client; a timeout,
   * `ClientsNotSwitched`, rolls back through `onFailure`) → `next`.
   */
  awaitClients(
    agentCommand: AgentCommandFactory,
    minimum: Duration,
    next: sfn.IChainable,
    catchTo: CatchTo,
    onFailure: sfn.IChainable,
  ): sfn.Wait {
    const wait = new sfn.Wait(this.scope, S.WaitForClients, {
      stateName: S.WaitForClients,
      time: sfn.WaitTime.duration(minimum),
    });
    const await_ = agentCommand(S.AwaitClients, 'await-clients', this.paths('$.plan.epoch'), '$.clients');
    catchTo(await_, onFailure, '$.error');
    wait.next(await_);
    await_.next(next);
    return wait;
  }

  /**
   * After the commit: PublishCommitted → `next`. A failure is recorded at `$.publishError` and does not
   * stop the execution (the data is committed; clients still on the migration's topology write to
   * its union, and the nodes' copy is refreshed by the next publish).
   */
  committed(agentCommand: AgentCommandFactory, next: sfn.IChainable, catchTo: CatchTo): sfn.IChainable {
    const publish = agentCommand(
      S.PublishCommitted,
      'publish',
      this.paths('$.migration.commit.epoch'),
      '$.published',
    );
    catchTo(publish, next, '$.publishError');
    publish.next(next);
    return publish;
  }

  /** After a rollback that restored the old members: PublishRestored → `next` (skipped when nothing was restored). */
  restored(agentCommand: AgentCommandFactory, next: sfn.IChainable, catchTo: CatchTo): sfn.IChainable {
    const publish = agentCommand(S.PublishRestored, 'publish', this.paths('$.restore.epoch'), '$.published');
    catchTo(publish, next, '$.publishError');
    publish.next(next);
    return new sfn.Choice(this.scope, S.HasRestored, { stateName: S.HasRestored })
      .when(
        sfn.Condition.and(
          sfn.Condition.isPresent('$.restore.epoch'),
          sfn.Condition.isPresent('$.plan.publisher'),
        ),
        publish,
      )
      .otherwise(next);
  }

  private paths(epoch: string) {
    return {
      cluster: '$.request.cluster',
      node: '$.plan.publisher.node',
      epoch,
      address: '$.plan.publisher.address',
    };
  }
}
