import { Duration } from 'aws-cdk-lib';
import * as ssm from 'aws-cdk-lib/aws-ssm';
import { Construct } from 'constructs';
import { ResyncDocumentParameters } from './state-names';

type ResyncDocumentParameter = (typeof ResyncDocumentParameters)[keyof typeof ResyncDocumentParameters];

/**
 * The allowedPattern of each parameter the workflow's SendCommand passes (names from
 * cdk/state-names.ts `ResyncDocumentParameters`). Each admits nothing a shell treats
 * specially: no quote, `$`, backtick, whitespace, `;`, `|`, `&` or newline.
 */
export const AGENT_DOCUMENT_PATTERNS: Readonly<Record<ResyncDocumentParameter, string>> = {
  // Step Functions task tokens are opaque base64 (both alphabets seen); the API caps them well under 4096.
  taskToken: '^[A-Za-z0-9+/=_-]{1,4096}$',
  // Same rule as core/topology.ts CLUSTER_NAME (it also names /astaire/<cluster>/...).
  cluster: '^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$',
  // The SSM document only runs on EC2 instances.
  node: '^i-[0-9a-f]{8,17}$',
  epoch: '^[0-9]{1,15}$',
  // The agent's subcommand: nothing else may reach the command line.
  mode: '^(resync|receive|push|cleanup|await-clients|publish)$',
  // privateIp:port as the plan has it (EC2 private IPv4).
  address: '^[0-9]{1,3}(\\.[0-9]{1,3}){3}:[0-9]{1,5}$',
};

const DESCRIPTIONS: Readonly<Record<ResyncDocumentParameter, string>> = {
  taskToken: 'Step Functions task token the agent reports to',
  cluster: 'Cluster name; the agent reads /astaire/<cluster>/topology',
  node: 'EC2 instance id of the node that pulls (the agent checks it is its own)',
  epoch: 'Epoch of the topology the agent works on (with newServers for a resync, committed for a cleanup)',
  mode: 'resync: pull the vbuckets this node gains; receive: the same, taking what the sources push first; push: push this source to its receivers; cleanup: delete those it lost, after the commit; await-clients: publish the topology on every node and wait for every live client to acknowledge it; publish: publish only',
  address: "The node's memcached as peers and clients reach it (privateIp:port): the agent works on it there",
};

export interface AgentDocumentProps {
  /**
   * Path of the agent executable on the node (installed by the launch template's user data).
   * @default '/usr/local/bin/astaire-agent'
   */
  readonly agentPath?: string;
  /**
   * How long SSM lets the resync run before killing it. Keep it at least the workflow's task timeout.
   * @default Duration.hours(2)
   */
  readonly executionTimeout?: Duration;
}

/**
 * The SSM Command document the workflow sends to each node that must pull data (`mode` resync) or,
 * after the commit, delete the vbuckets it lost (`mode` cleanup): it runs
 * `ASTAIRE_TASK_TOKEN=... astaire-agent <mode> --node ... --parameter ...`.
 *
 * No parameter is ever pasted into the script. Every parameter uses `interpolationType: ENV_VAR`,
 * so SSM Agent (3.3.2746.0 or later) hands it to the script as `$SSM_<Name>`, which the script
 * only ever expands inside double quotes; the script contains no `{{ }}` at all. The
 * allowedPatterns are the second wall: SendCommand rejects a value that is not an instance id,
 * a topology parameter name or a base64 token before anything reaches the node.
 */
export class AgentDocument extends Construct {
  /** The document name, for `ssm:SendCommand` and IAM. */
  readonly documentName: string;
  readonly document: ssm.CfnDocument;

  constructor(scope: Construct, id: string, props: AgentDocumentProps = {}) {
    super(scope, id);
    const agentPath = props.agentPath ?? '/usr/local/bin/astaire-agent';
    if (!/^\/[A-Za-z0-9_./-]+$/.test(agentPath))
      throw new Error(`agentPath must be an absolute path without shell characters, got ${agentPath}`);
    const timeoutSeconds = (props.executionTimeout ?? Duration.hours(2)).toSeconds();

    const parameters = Object.fromEntries(
      Object.values(ResyncDocumentParameters).map((name) => [
        name,
        {
          type: 'String',
          description: DESCRIPTIONS[name],
          allowedPattern: AGENT_DOCUMENT_PATTERNS[name],
          interpolationType: 'ENV_VAR',
        },
      ]),
    );
    const env = (name: ResyncDocumentParameter) => `SSM_${name}`;
    const script = [
      'set -eu',
      // An SSM Agent too old for ENV_VAR interpolation would run the agent without a token; fail loudly instead.
      `for v in ${Object.values(ResyncDocumentParameters).map(env).join(' ')}; do`,
      '  if [ -z "$(printenv "$v")" ]; then',
      '    echo "astaire: $v is not set: SSM Agent 3.3.2746.0 or later is required (parameters arrive as environment variables)" >&2',
      '    exit 2',
      '  fi',
      'done',
      // `epoch` is declared because the workflow sends it (SSM rejects undeclared parameters); the agent
      // reads the epoch from the topology it fetches, so it is not on the command line.
      // The token goes to the agent in its environment, never on its command line: /proc/<pid>/cmdline (what
      // `ps` shows) is readable by every user of the node, /proc/<pid>/environ only by the process's owner.
      `ASTAIRE_TASK_TOKEN="$${env('taskToken')}" exec ${agentPath} "$${env('mode')}" --node "$${env('node')}" --parameter "/astaire/$${env('cluster')}/topology" --local "$${env('address')}"`,
    ];

    this.document = new ssm.CfnDocument(this, 'Resource', {
      documentType: 'Command',
      documentFormat: 'JSON',
      updateMethod: 'NewVersion',
      content: {
        schemaVersion: '2.2',
        description:
          'Astaire: pull the vbuckets this node gains from the old replicas (resync), or delete those it lost after a commit (cleanup), then report to Step Functions',
        parameters,
        mainSteps: [
          {
            action: 'aws:runShellScript',
            name: 'Resync',
            precondition: { StringEquals: ['platformType', 'Linux'] },
            inputs: { timeoutSeconds, runCommand: script },
          },
        ],
      },
    });
    this.documentName = this.document.ref;
  }
}
