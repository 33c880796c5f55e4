/**
 * Deepest nesting a request body may have: deeper bodies are refused before anything recurses into
 * them (validation, idempotency fingerprints). Routes may set tighter limits on parts of a body
 * (event payloads: 64, rejected per item).
 */
export const MAX_JSON_DEPTH = 512;

/**
 * The nesting depth of a parsed JSON value, computed without recursion (a hostile body must not
 * overflow the stack); stops counting once past `limit`.
 */
export function jsonDepth(value: unknown, limit = MAX_JSON_DEPTH): number {
  let max = 0;
  const stack: Array<[unknown, number]> = [[value, 1]];
  while (stack.length) {
    const [v, depth] = stack.pop() as [unknown, number];
    if (v === null || typeof v !== 'object') continue;
    if (depth > max) max = depth;
    if (max > limit) return max;
    for (const child of Array.isArray(v) ? v : Object.values(v as Record<string, unknown>)) {
      if (child !== null && typeof child === 'object') stack.push([child, depth + 1]);
    }
  }
  return max;
}

/** A NUL character or an unpaired UTF-16 surrogate: text that PostgreSQL cannot store as it was sent. */
// eslint-disable-next-line no-control-regex -- NUL is the point
const UNSTORABLE_TEXT = /[\u0000\p{Cs}]/u;

/** What `inspectJson` found wrong, with the dotted path of the place (e.g. `events.0.name`). */
export interface JsonProblem {
  field: string;
  message: string;
  /** The body holds too many values: a 413, not a 400. */
  tooLarge?: boolean;
}

/**
 * Most values (objects, arrays, strings, numbers, booleans, nulls; keys not counted) a request body may hold. Every
 * value costs every pass over the body (parsing, validation, the idempotency fingerprint, storage) time on the
 * event loop, and 1 MiB of tiny values is about 200,000 of them: at 50,000, the largest body costs the api about
 * 30 ms of event loop on our 2-core machines (`npm run bench -- hostile`). 500 events of 100 values each fit.
 */
export const MAX_JSON_VALUES = 50_000;

/** A container being walked: its keys (null for an array), the next index, its key in its parent. */
interface Frame {
  container: Record<string, unknown> | unknown[];
  keys: string[] | null;
  index: number;
  key: string;
  skipText: boolean;
}

/** The dotted path of `frames[1..]` plus `last`. */
function pathOf(frames: readonly Frame[], last?: string): string {
  const parts = frames.slice(1).map((f) => f.key);
  if (last !== undefined) parts.push(last);
  return parts.join('.');
}

/**
 * One pass over a parsed request body, without recursion and without allocating per value: nesting past `limit`
 * (named at the first level past it), more than `maxValues` values, and NUL or unpaired surrogate characters in keys
 * or string values (JSON escapes such as "\ud800" parse to them; PostgreSQL refuses NUL and the driver would
 * silently turn a lone surrogate into U+FFFD). `opaque(path)` names subtrees whose text a route checks itself (e.g.
 * event payloads, rejected per item); their nesting and values still count.
 */
export function inspectJson(
  value: unknown,
  limit = MAX_JSON_DEPTH,
  opaque?: (path: string) => boolean,
  maxValues = MAX_JSON_VALUES,
): JsonProblem | undefined {
  if (typeof value === 'string' && UNSTORABLE_TEXT.test(value)) {
    return { field: 'body', message: 'body must not contain NUL or unpaired surrogate characters' };
  }
  if (value === null || typeof value !== 'object') return undefined;
  if (limit < 1) return { field: 'body', message: `The body is nested deeper than ${limit} levels` };
  const frames: Frame[] = [];
  const enter = (container: object, key: string, skipText: boolean): void => {
    const keys = Array.isArray(container) ? null : Object.keys(container);
    frames.push({ container: container as Frame['container'], keys, index: 0, key, skipText });
  };
  enter(value, '', false);
  let values = 1;
  while (frames.length) {
    const f = frames[frames.length - 1];
    const length = f.keys ? f.keys.length : (f.container as unknown[]).length;
    if (f.index >= length) {
      frames.pop();
      continue;
    }
    const i = f.index++;
    const key = f.keys ? f.keys[i] : String(i);
    const child = f.keys ? (f.container as Record<string, unknown>)[key] : (f.container as unknown[])[i];
    if (f.keys && !f.skipText && UNSTORABLE_TEXT.test(key)) {
      const field = pathOf(frames, key);
      return { field, message: `${field}: property names must not contain NUL or unpaired surrogate characters` };
    }
    if (++values > maxValues) {
      return {
        field: 'body',
        message: `The body holds more than ${maxValues} JSON values: split it, or use a bulk import`,
        tooLarge: true,
      };
    }
    if (child === null || (typeof child !== 'object' && typeof child !== 'string')) continue;
    const skip = f.skipText || (opaque !== undefined && frames.length <= 3 && opaque(pathOf(frames, key)));
    if (typeof child === 'string') {
      if (!skip && UNSTORABLE_TEXT.test(child)) {
        const field = pathOf(frames, key);
        return { field, message: `${field} must not contain NUL or unpaired surrogate characters` };
      }
      continue;
    }
    if (frames.length + 1 > limit) {
      return { field: pathOf(frames, key), message: `The body is nested deeper than ${limit} levels` };
    }
    enter(child, key, skip);
  }
  return undefined;
}
