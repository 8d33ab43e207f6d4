/**
 * Parameter Store names the stack writes for the operator CLI, next to `parameterName` (the
 * topology) in topology.ts. Shared by `cdk/` (writes) and `cli/` (reads).
 */

/** Holds the ARN of the cluster's scaling workflow. */
export function stateMachineArnParameterName(cluster: string): string {
  return `/astaire/${cluster}/state-machine-arn`;
}
