import { evaluateIntrinsic, isIntrinsic, parseIntrinsic, type IntrinsicCall } from './intrinsics';
import { isObject, parsePath, selectPath } from './paths';

/**
 * Payload templates (https://states-language.net/spec.html#payload-template): Parameters,
 * ItemSelector and ResultSelector. A field whose name ends in `.$` takes the value its path or
 * intrinsic function selects, under the name without `.$`; other fields are copied; objects nested
 * in objects or arrays are templates too.
 */
export function resolvePayload(template: unknown, input: unknown, context: unknown, field: string): unknown {
  if (Array.isArray(template)) return template.map((v) => resolvePayload(v, input, context, field));
  if (!isObject(template)) return template;
  const out: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(template)) {
    if (key.endsWith('.$') && typeof value === 'string') {
      const name = key.slice(0, -2);
      out[name] = isIntrinsic(value)
        ? evaluateIntrinsic(intrinsic(value), input, context)
        : selectPath(value, input, context, `${field}.${key}`);
    } else out[key] = resolvePayload(value, input, context, field);
  }
  return out;
}

const intrinsics = new Map<string, IntrinsicCall>();
function intrinsic(text: string): IntrinsicCall {
  let call = intrinsics.get(text);
  if (!call) intrinsics.set(text, (call = parseIntrinsic(text)));
  return call;
}

/** Checks every `.$` field of a template when the definition is loaded; throws an Error naming the field. */
export function checkPayload(template: unknown, field: string): void {
  if (Array.isArray(template)) return template.forEach((v, i) => checkPayload(v, `${field}[${i}]`));
  if (!isObject(template)) return;
  for (const [key, value] of Object.entries(template)) {
    if (key.endsWith('.$')) {
      if (typeof value !== 'string')
        throw new Error(`${field}.${key} must be a path or an intrinsic function`);
      if (isIntrinsic(value)) intrinsic(value);
      else parsePath(value);
    } else checkPayload(value, `${field}.${key}`);
  }
}
