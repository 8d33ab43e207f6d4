import { StatesError, StatesErrors } from './errors';
import { parsePath, readPath, selectPath } from './paths';

/**
 * Choice rules (https://states-language.net/spec.html#choice-state): And/Or/Not, the type tests
 * (IsPresent, IsNull, IsString...), and the String/Numeric/Boolean/Timestamp comparisons, each also
 * as `...Path` (compare with the value at a path). A comparison of values of different types is
 * false; a Variable that selects nothing fails with States.Runtime, except under IsPresent.
 */
export type ChoiceRule = Record<string, unknown>;

type Kind = 'String' | 'Numeric' | 'Boolean' | 'Timestamp';
type Op = 'Equals' | 'LessThan' | 'GreaterThan' | 'LessThanEquals' | 'GreaterThanEquals';
const KINDS: Kind[] = ['String', 'Numeric', 'Boolean', 'Timestamp'];
const OPS: Op[] = ['Equals', 'LessThan', 'GreaterThan', 'LessThanEquals', 'GreaterThanEquals'];
const TYPE_TESTS = ['IsPresent', 'IsNull', 'IsString', 'IsNumeric', 'IsBoolean', 'IsTimestamp'] as const;

/** RFC 3339 as the spec asks ("2016-03-14T01:59:00Z", an uppercase T and an offset or Z). */
const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/;
const timestamp = (v: unknown) => (typeof v === 'string' && RFC3339.test(v) ? Date.parse(v) : NaN);

/** The comparison field of a rule (e.g. `StringEquals`, `NumericLessThanPath`, `IsPresent`), if exactly one. */
function comparison(rule: ChoiceRule): string | undefined {
  const keys = Object.keys(rule).filter((k) => k !== 'Variable' && k !== 'Next' && k !== 'Comment');
  return keys.length === 1 ? keys[0] : undefined;
}

function known(op: string): boolean {
  if ((TYPE_TESTS as readonly string[]).includes(op) || op === 'StringMatches') return true;
  const base = op.endsWith('Path') ? op.slice(0, -4) : op;
  if (base === 'BooleanEquals') return true;
  return KINDS.some((k) => k !== 'Boolean' && OPS.some((o) => base === `${k}${o}`));
}

/** Checks a rule when the definition is loaded; throws an Error saying what is wrong. */
export function checkRule(rule: ChoiceRule, where: string): void {
  if ('And' in rule || 'Or' in rule) {
    const list = (rule.And ?? rule.Or) as unknown;
    if (!Array.isArray(list) || list.length === 0)
      throw new Error(`${where}: And/Or needs a non-empty array`);
    list.forEach((r, i) => checkRule(r as ChoiceRule, `${where}[${i}]`));
    return;
  }
  if ('Not' in rule) return checkRule(rule.Not as ChoiceRule, `${where}.Not`);
  const op = comparison(rule);
  if (typeof rule.Variable !== 'string') throw new Error(`${where}: a comparison needs a Variable`);
  parsePath(rule.Variable);
  if (!op || !known(op))
    throw new Error(`${where}: unsupported or missing comparison (${Object.keys(rule).join(', ')})`);
  if (op.endsWith('Path')) parsePath(String(rule[op]));
}

export function evaluateRule(rule: ChoiceRule, input: unknown, context: unknown): boolean {
  if (Array.isArray(rule.And))
    return (rule.And as ChoiceRule[]).every((r) => evaluateRule(r, input, context));
  if (Array.isArray(rule.Or)) return (rule.Or as ChoiceRule[]).some((r) => evaluateRule(r, input, context));
  if (rule.Not) return !evaluateRule(rule.Not as ChoiceRule, input, context);
  const op = comparison(rule)!;
  const variable = rule.Variable as string;
  const found = readPath(parsePath(variable), input, context);
  if (op === 'IsPresent') return found.found === rule.IsPresent;
  if (!found.found)
    throw new StatesError(
      StatesErrors.Runtime,
      `Invalid path '${variable}': the choice state's condition path references an undefined value.`,
    );
  const v = found.value;
  switch (op) {
    case 'IsNull':
      return (v === null) === rule.IsNull;
    case 'IsString':
      return (typeof v === 'string') === rule.IsString;
    case 'IsNumeric':
      return (typeof v === 'number') === rule.IsNumeric;
    case 'IsBoolean':
      return (typeof v === 'boolean') === rule.IsBoolean;
    case 'IsTimestamp':
      return !Number.isNaN(timestamp(v)) === rule.IsTimestamp;
    case 'StringMatches':
      return typeof v === 'string' && matches(v, String(rule.StringMatches));
  }
  const isPath = op.endsWith('Path');
  const base = isPath ? op.slice(0, -4) : op;
  const expected = isPath ? selectPath(String(rule[op]), input, context, `Choice ${op}`) : rule[op];
  if (base === 'BooleanEquals') return typeof v === 'boolean' && v === expected;
  const kind = KINDS.find((k) => base.startsWith(k))!;
  const relation = base.slice(kind.length) as Op;
  let a: number | string;
  let b: number | string;
  if (kind === 'String') {
    if (typeof v !== 'string' || typeof expected !== 'string') return false;
    [a, b] = [v, expected];
  } else if (kind === 'Numeric') {
    if (typeof v !== 'number' || typeof expected !== 'number') return false;
    [a, b] = [v, expected];
  } else {
    [a, b] = [timestamp(v), timestamp(expected)];
    if (Number.isNaN(a) || Number.isNaN(b)) return false;
  }
  switch (relation) {
    case 'Equals':
      return a === b;
    case 'LessThan':
      return a < b;
    case 'GreaterThan':
      return a > b;
    case 'LessThanEquals':
      return a <= b;
    case 'GreaterThanEquals':
      return a >= b;
  }
}

/** StringMatches: `*` matches any run of characters; `\*` and `\\` are literal. */
function matches(value: string, pattern: string): boolean {
  let source = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '\\' && i + 1 < pattern.length) source += escape(pattern[++i]!);
    else source += c === '*' ? '.*' : escape(c);
  }
  return new RegExp(`^${source}$`, 's').test(value);
}
const escape = (c: string) => c.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
