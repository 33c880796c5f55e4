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
