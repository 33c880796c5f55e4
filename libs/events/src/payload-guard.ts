/** Deeper payloads are refused: PostgreSQL's jsonb parser and JSON.stringify both recurse. */
export const MAX_PAYLOAD_DEPTH = 64;

const LONE_SURROGATE = /\p{Cs}/u;

function badText(s: string): boolean {
  return s.includes('\0') || LONE_SURROGATE.test(s);
}

export interface PayloadProblem {
  /** JSON pointer into the payload ('' for the root). */
  path: string;
  message: string;
}

/** A container being walked: its keys (null for an array), the next index, its key in its parent. */
interface Frame {
  container: Record<string, unknown> | unknown[];
  keys: string[] | null;
  index: number;
  key: string;
}

/** The JSON pointer of `frames[1..]` plus `last`. */
function pointer(frames: readonly Frame[], last: string): string {
  return [...frames.slice(1).map((f) => f.key), last]
    .map((k) => `/${k.replace(/~/g, '~0').replace(/\//g, '~1')}`)
    .join('');
}

/**
 * Why PostgreSQL's jsonb would refuse this payload, which a JSON Schema cannot express: nesting
 * deeper than MAX_PAYLOAD_DEPTH, a NUL character, or an unpaired UTF-16 surrogate, in a value or a
 * property name. Undefined when it is storable. Iterative and allocation-free per value, so that no
 * nesting overflows the stack and a large payload costs one pass.
 */
export function payloadProblem(payload: unknown): PayloadProblem | undefined {
  if (typeof payload === 'string') {
    return badText(payload)
      ? { path: '', message: 'must not contain NUL or unpaired surrogate characters' }
      : undefined;
  }
  if (typeof payload !== 'object' || payload === null) return undefined;
  if (MAX_PAYLOAD_DEPTH <= 0) return { path: '', message: `must not nest deeper than ${MAX_PAYLOAD_DEPTH} levels` };
  const frames: Frame[] = [];
  const enter = (container: object, key: string): void => {
    frames.push({
      container: container as Frame['container'],
      keys: Array.isArray(container) ? null : Object.keys(container),
      index: 0,
      key,
    });
  };
  enter(payload, '');
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
    if (f.keys && badText(key)) {
      return {
        path: pointer(frames, key),
        message: 'property names must not contain NUL or unpaired surrogate characters',
      };
    }
    if (typeof child === 'string') {
      if (badText(child)) {
        return { path: pointer(frames, key), message: 'must not contain NUL or unpaired surrogate characters' };
      }
    } else if (typeof child === 'object' && child !== null) {
      if (frames.length >= MAX_PAYLOAD_DEPTH) {
        return { path: pointer(frames, key), message: `must not nest deeper than ${MAX_PAYLOAD_DEPTH} levels` };
      }
      enter(child, key);
    }
  }
  return undefined;
}
