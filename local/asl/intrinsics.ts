import { createHash, randomInt, randomUUID } from 'node:crypto';
import { StatesError, StatesErrors } from './errors';
import { isObject, parsePath, readPath, type ParsedPath } from './paths';

/**
 * Intrinsic functions (https://states-language.net/spec.html#appendix-b and the AWS developer guide's
 * "Intrinsic functions for JSONPath states"): `States.Format('x {}', $.a)`, `States.Array(...)`, and
 * the rest of the JSONPath set. A call is parsed once, when the definition is loaded; a failure while
 * evaluating one is States.IntrinsicFailure.
 */
export type IntrinsicArg =
  | { readonly kind: 'literal'; readonly value: unknown; readonly raw?: string }
  | { readonly kind: 'path'; readonly path: ParsedPath }
  | { readonly kind: 'call'; readonly call: IntrinsicCall };

export interface IntrinsicCall {
  readonly name: string;
  readonly args: readonly IntrinsicArg[];
}

type Impl = (args: unknown[], raw: (string | undefined)[]) => unknown;

const fail = (name: string, why: string) => new StatesError(StatesErrors.IntrinsicFailure, `${name}: ${why}`);

function need(name: string, args: unknown[], min: number, max = min): void {
  if (args.length < min || args.length > max)
    throw fail(name, `takes ${min === max ? min : `${min} to ${max}`} arguments, got ${args.length}`);
}
function str(name: string, v: unknown): string {
  if (typeof v !== 'string') throw fail(name, `expected a string, got ${JSON.stringify(v)}`);
  return v;
}
function int(name: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v))
    throw fail(name, `expected an integer, got ${JSON.stringify(v)}`);
  return v;
}
function arr(name: string, v: unknown): unknown[] {
  if (!Array.isArray(v)) throw fail(name, `expected an array, got ${JSON.stringify(v)}`);
  return v;
}
const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

/** `{}` in the template takes the next argument; `\{`, `\}`, `\'` and `\\` are literal characters. */
function format(args: unknown[], raw: (string | undefined)[]): string {
  const template = raw[0] ?? str('States.Format', args[0]);
  const values = args.slice(1);
  let out = '';
  let next = 0;
  for (let i = 0; i < template.length; i++) {
    const c = template[i]!;
    if (c === '\\' && i + 1 < template.length) out += template[++i];
    else if (c === '{' && template[i + 1] === '}') {
      if (next >= values.length) throw fail('States.Format', 'more {} than arguments');
      const v = values[next++];
      if (v !== null && typeof v === 'object')
        throw fail('States.Format', `cannot format ${JSON.stringify(v)}`);
      out += typeof v === 'string' ? v : JSON.stringify(v);
      i++;
    } else out += c;
  }
  if (next !== values.length) throw fail('States.Format', `${values.length} arguments for ${next} {}`);
  return out;
}

const FUNCTIONS: Record<string, Impl> = {
  'States.Format': format,
  'States.Array': (args) => args,
  'States.StringToJson': (args) => {
    need('States.StringToJson', args, 1);
    try {
      return JSON.parse(str('States.StringToJson', args[0]));
    } catch (e) {
      throw fail('States.StringToJson', (e as Error).message);
    }
  },
  'States.JsonToString': (args) => (need('States.JsonToString', args, 1), JSON.stringify(args[0])),
  'States.ArrayPartition': (args) => {
    need('States.ArrayPartition', args, 2);
    const a = arr('States.ArrayPartition', args[0]);
    const size = int('States.ArrayPartition', args[1]);
    if (size <= 0) throw fail('States.ArrayPartition', 'the chunk size must be positive');
    const out: unknown[][] = [];
    for (let i = 0; i < a.length; i += size) out.push(a.slice(i, i + size));
    return out;
  },
  'States.ArrayContains': (args) => (
    need('States.ArrayContains', args, 2),
    arr('States.ArrayContains', args[0]).some((v) => same(v, args[1]))
  ),
  'States.ArrayRange': (args) => {
    need('States.ArrayRange', args, 3);
    const [from, to, step] = args.map((a) => int('States.ArrayRange', a)) as [number, number, number];
    if (step === 0) throw fail('States.ArrayRange', 'the step must not be 0');
    const out: number[] = [];
    for (let v = from; step > 0 ? v <= to : v >= to; v += step) {
      out.push(v);
      if (out.length > 1000) throw fail('States.ArrayRange', 'more than 1000 items');
    }
    return out;
  },
  'States.ArrayGetItem': (args) => {
    need('States.ArrayGetItem', args, 2);
    const a = arr('States.ArrayGetItem', args[0]);
    const i = int('States.ArrayGetItem', args[1]);
    if (i < 0 || i >= a.length) throw fail('States.ArrayGetItem', `index ${i} out of range`);
    return a[i];
  },
  'States.ArrayLength': (args) => (
    need('States.ArrayLength', args, 1),
    arr('States.ArrayLength', args[0]).length
  ),
  'States.ArrayUnique': (args) => {
    need('States.ArrayUnique', args, 1);
    const out: unknown[] = [];
    for (const v of arr('States.ArrayUnique', args[0])) if (!out.some((o) => same(o, v))) out.push(v);
    return out;
  },
  'States.Base64Encode': (args) => (
    need('States.Base64Encode', args, 1),
    Buffer.from(str('States.Base64Encode', args[0])).toString('base64')
  ),
  'States.Base64Decode': (args) => (
    need('States.Base64Decode', args, 1),
    Buffer.from(str('States.Base64Decode', args[0]), 'base64').toString()
  ),
  'States.Hash': (args) => {
    need('States.Hash', args, 2);
    const algorithm = str('States.Hash', args[1]);
    const node = {
      MD5: 'md5',
      'SHA-1': 'sha1',
      'SHA-256': 'sha256',
      'SHA-384': 'sha384',
      'SHA-512': 'sha512',
    }[algorithm];
    if (!node) throw fail('States.Hash', `unknown algorithm ${algorithm}`);
    const data = typeof args[0] === 'string' ? args[0] : JSON.stringify(args[0]);
    return createHash(node).update(data).digest('hex');
  },
  'States.JsonMerge': (args) => {
    need('States.JsonMerge', args, 3);
    if (!isObject(args[0]) || !isObject(args[1])) throw fail('States.JsonMerge', 'merges two objects');
    if (args[2] !== false) throw fail('States.JsonMerge', 'only the shallow merge (false) is supported');
    return { ...args[0], ...args[1] };
  },
  'States.MathRandom': (args) => {
    need('States.MathRandom', args, 2, 3);
    return randomInt(int('States.MathRandom', args[0]), int('States.MathRandom', args[1]));
  },
  'States.MathAdd': (args) => (
    need('States.MathAdd', args, 2),
    int('States.MathAdd', args[0]) + int('States.MathAdd', args[1])
  ),
  'States.StringSplit': (args) => {
    need('States.StringSplit', args, 2);
    const chars = str('States.StringSplit', args[1]);
    const parts = str('States.StringSplit', args[0]).split(
      new RegExp(`[${chars.replace(/[\\\]^-]/g, '\\$&')}]`),
    );
    return parts.filter((p) => p !== '');
  },
  'States.UUID': (args) => (need('States.UUID', args, 0), randomUUID()),
};

export function isIntrinsic(text: string): boolean {
  return /^States\.[A-Za-z0-9]+\(/.test(text);
}

/** Parses `States.Name(arg, ...)`; throws an Error (the definition is refused) on bad syntax or an unknown function. */
export function parseIntrinsic(text: string): IntrinsicCall {
  let i = 0;
  const fault = (why: string) => new Error(`intrinsic ${JSON.stringify(text)}: ${why} at ${i}`);
  const space = () => {
    while (text[i] === ' ') i++;
  };
  const call = (): IntrinsicCall => {
    const m = /^States\.[A-Za-z0-9]+/.exec(text.slice(i));
    if (!m) throw fault('expected a States.* function');
    const name = m[0];
    if (!FUNCTIONS[name]) throw fault(`unknown function ${name}`);
    i += name.length;
    if (text[i++] !== '(') throw fault('expected (');
    const args: IntrinsicArg[] = [];
    space();
    if (text[i] === ')') {
      i++;
      return { name, args };
    }
    for (;;) {
      space();
      args.push(arg());
      space();
      const c = text[i++];
      if (c === ')') return { name, args };
      if (c !== ',') throw fault('expected , or )');
    }
  };
  const arg = (): IntrinsicArg => {
    const c = text[i];
    if (c === "'") {
      let raw = '';
      let value = '';
      i++;
      while (i < text.length && text[i] !== "'") {
        if (text[i] === '\\' && i + 1 < text.length) {
          raw += text[i]! + text[i + 1]!;
          value += text[i + 1];
          i += 2;
        } else {
          raw += text[i];
          value += text[i++];
        }
      }
      if (text[i++] !== "'") throw fault('unclosed string');
      return { kind: 'literal', value, raw };
    }
    if (c === '$') {
      const start = i;
      let depth = 0;
      let quote: string | undefined;
      while (i < text.length) {
        const d = text[i]!;
        if (quote) {
          if (d === quote) quote = undefined;
        } else if (d === "'" || d === '"') quote = d;
        else if (d === '[') depth++;
        else if (d === ']') depth--;
        else if (depth === 0 && (d === ',' || d === ')')) break;
        i++;
      }
      return { kind: 'path', path: parsePath(text.slice(start, i).trim()) };
    }
    if (text.startsWith('States.', i)) return { kind: 'call', call: call() };
    const m = /^(-?\d+(\.\d+)?([eE][+-]?\d+)?|true|false|null)/.exec(text.slice(i));
    if (!m) throw fault('expected a string, number, boolean, null, path or call');
    i += m[0].length;
    return { kind: 'literal', value: JSON.parse(m[0]) };
  };
  const parsed = call();
  space();
  if (i !== text.length) throw fault('trailing text');
  return parsed;
}

export function evaluateIntrinsic(call: IntrinsicCall, input: unknown, context: unknown): unknown {
  const values: unknown[] = [];
  const raws: (string | undefined)[] = [];
  for (const a of call.args) {
    if (a.kind === 'literal') {
      values.push(a.value);
      raws.push(a.raw);
    } else if (a.kind === 'path') {
      const r = readPath(a.path, input, context);
      if (!r.found) throw fail(call.name, `the JSONPath ${a.path.text} could not be found`);
      values.push(r.value);
      raws.push(undefined);
    } else {
      values.push(evaluateIntrinsic(a.call, input, context));
      raws.push(undefined);
    }
  }
  // Only a literal template keeps its escapes; States.Format's first argument must be one.
  if (call.name === 'States.Format' && call.args[0]?.kind !== 'literal')
    throw fail(call.name, 'the template must be a string literal');
  return FUNCTIONS[call.name]!(values, raws);
}
