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
}

interface PathNode {
  key: string;
  parent?: PathNode;
}

function pathText(node: PathNode | undefined): string {
  const parts: string[] = [];
  for (let n = node; n; n = n.parent) parts.push(n.key);
  return parts.reverse().join('.');
}

/**
 * One pass over a parsed request body, without recursion: nesting past `limit` (named at the
 * first level past it), and NUL or unpaired surrogate characters in keys or string values
 * (JSON escapes such as "\ud800" parse to them; PostgreSQL refuses NUL and the driver would
 * silently turn a lone surrogate into U+FFFD). `opaque(path)` names subtrees whose text a route
 * checks itself (e.g. event payloads, rejected per item); their nesting still counts.
 */
export function inspectJson(
  value: unknown,
  limit = MAX_JSON_DEPTH,
  opaque?: (path: string) => boolean,
): JsonProblem | undefined {
  const stack: Array<[unknown, number, PathNode | undefined, boolean]> = [[value, 1, undefined, false]];
  while (stack.length) {
    const [v, depth, node, skipText] = stack.pop() as [unknown, number, PathNode | undefined, boolean];
    if (typeof v === 'string') {
      if (!skipText && UNSTORABLE_TEXT.test(v)) {
        const field = pathText(node) || 'body';
        return { field, message: `${field} must not contain NUL or unpaired surrogate characters` };
      }
      continue;
    }
    if (v === null || typeof v !== 'object') continue;
    if (depth > limit) {
      return { field: pathText(node) || 'body', message: `The body is nested deeper than ${limit} levels` };
    }
    const entries: Array<[string, unknown]> = Array.isArray(v)
      ? v.map((child, i) => [String(i), child])
      : Object.entries(v as Record<string, unknown>);
    for (const [key, child] of entries) {
      const childNode: PathNode = { key, parent: node };
      if (!skipText && UNSTORABLE_TEXT.test(key)) {
        const field = pathText(childNode);
        return { field, message: `${field}: property names must not contain NUL or unpaired surrogate characters` };
      }
      const skip = skipText || (opaque !== undefined && depth <= 3 && opaque(pathText(childNode)));
      stack.push([child, depth + 1, childNode, skip]);
    }
  }
  return undefined;
}
