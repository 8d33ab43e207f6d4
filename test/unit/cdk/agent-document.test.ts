import { Duration, Stack } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import { AGENT_DOCUMENT_PATTERNS, AgentDocument } from '../../../cdk/agent-document';
import { ResyncDocumentParameters } from '../../../cdk/state-names';
import { testApp } from './fixtures/synth';

interface DocumentContent {
  parameters: Record<string, { type: string; allowedPattern: string; interpolationType: string }>;
  mainSteps: Array<{ action: string; inputs: { runCommand: string[]; timeoutSeconds: number } }>;
}

function synthDocument(props = {}): DocumentContent {
  const stack = new Stack(testApp());
  new AgentDocument(stack, 'Doc', props);
  const docs = Template.fromStack(stack).findResources('AWS::SSM::Document');
  expect(Object.keys(docs)).toHaveLength(1);
  return Object.values(docs)[0].Properties.Content as DocumentContent;
}

const REALISTIC = {
  taskToken: 'AQCEAAAAKgAAAAMAAAAAAAAAAbKi8Ll5IKntjIiLGaBkaNeweo84kKYKDTvDaSAP1vjuYRJ+GqFdHkS2R/x9u_w-Z3Yq==',
  cluster: 'web-sessions.eu_1',
  node: 'i-0123456789abcdef0',
  epoch: '42',
  mode: 'cleanup',
  address: '10.0.12.201:11211',
};
const HOSTILE = [
  "x'; reboot; echo '",
  'x"; reboot; echo "',
  '$(reboot)',
  '`reboot`',
  'a b',
  'a\nreboot',
  'a;reboot',
  'a|reboot',
  'a&reboot',
  '${IFS}',
  '',
];

describe('AgentDocument', () => {
  const content = synthDocument();

  test('given the workflow parameters, when the document is synthesized, then it declares exactly those, each with an allowedPattern and ENV_VAR interpolation', () => {
    expect(Object.keys(content.parameters).sort()).toEqual(Object.values(ResyncDocumentParameters).sort());
    for (const p of Object.values(content.parameters)) {
      expect(p.type).toBe('String');
      expect(p.allowedPattern).toMatch(/^\^.*\$$/);
      expect(p.interpolationType).toBe('ENV_VAR');
    }
  });

  test('given realistic values, when checked against the allowedPatterns, then SendCommand accepts them', () => {
    for (const [name, value] of Object.entries(REALISTIC))
      expect({ name, ok: new RegExp(content.parameters[name].allowedPattern).test(value) }).toEqual({
        name,
        ok: true,
      });
  });

  test('given values that try to inject shell, when checked against the allowedPatterns, then every parameter rejects them', () => {
    for (const [name, p] of Object.entries(content.parameters))
      for (const value of HOSTILE)
        expect({ name, value, ok: new RegExp(p.allowedPattern).test(value) }).toEqual({
          name,
          value,
          ok: false,
        });
  });

  test('given the script, when inspected, then no parameter is substituted into it and every variable is expanded inside double quotes', () => {
    const script = content.mainSteps.flatMap((s) => s.inputs.runCommand).join('\n');
    expect(script).not.toContain('{{');
    const resync = content.mainSteps[0].inputs.runCommand.find((l) => l.includes(' exec '))!;
    // The task token reaches the agent in its environment: `ps` shows every user a command line.
    expect(resync).toBe(
      'ASTAIRE_TASK_TOKEN="$SSM_taskToken" exec /usr/local/bin/astaire-agent "$SSM_mode" --node "$SSM_node" --parameter "/astaire/$SSM_cluster/topology" --local "$SSM_address"',
    );
    expect(resync).not.toContain('--task-token');
    // Outside double-quoted strings the command line holds no `$` at all.
    expect(resync.replace(/"[^"]*"/g, '')).not.toContain('$');
  });

  test('given an SSM Agent too old to pass parameters as environment variables, when the script starts, then it fails before running the agent', () => {
    const lines = content.mainSteps[0].inputs.runCommand;
    const check = lines.findIndex((l) => l.startsWith('for v in'));
    expect(lines[check]).toBe(
      'for v in SSM_taskToken SSM_cluster SSM_node SSM_epoch SSM_mode SSM_address; do',
    );
    expect(lines.slice(check).join('\n')).toMatch(/exit 2[\s\S]*ASTAIRE_TASK_TOKEN=\S+ exec /);
  });

  test('given a resync timeout, when synthesized, then the shell step gets it; an agent path with shell characters is refused', () => {
    expect(synthDocument({ executionTimeout: Duration.minutes(90) }).mainSteps[0].inputs.timeoutSeconds).toBe(
      5400,
    );
    expect(content.mainSteps[0].inputs.timeoutSeconds).toBe(7200);
    expect(() => synthDocument({ agentPath: '/usr/bin/agent; reboot' })).toThrow(/agentPath/);
  });

  test('given the mode parameter, when checked, then only the two agent subcommands pass', () => {
    const mode = new RegExp(content.parameters.mode.allowedPattern);
    expect(['resync', 'cleanup'].filter((m) => mode.test(m))).toEqual(['resync', 'cleanup']);
    for (const m of ['--help', 'resync --help', 'cleanupx', 'Resync', 'resync\n'])
      expect({ m, ok: mode.test(m) }).toEqual({ m, ok: false });
  });

  test('given the exported patterns, when compared with the template, then they are the ones deployed', () => {
    for (const [name, pattern] of Object.entries(AGENT_DOCUMENT_PATTERNS))
      expect(content.parameters[name].allowedPattern).toBe(pattern);
  });
});
