/** Deeper payloads are refused: PostgreSQL's jsonb parser and JSON.stringify both recurse. */
export const MAX_PAYLOAD_DEPTH = 64;

const LONE_SURROGATE = /\p{Cs}/u;

function badText(s: string): boolean {
  return s.includes('\0') || LONE_SURROGATE.test(s);
}

interface Node {
  value: unknown;
  depth: number;
  parent: Node | undefined;
  key: string;
}

/** The JSON pointer of a node, built only when a problem is reported. */
function pointer(node: Node | undefined): string {
  const keys: string[] = [];
  for (let n = node; n?.parent; n = n.parent) keys.push(n.key.replace(/~/g, '~0').replace(/\//g, '~1'));
  return keys
    .reverse()
    .map((k) => `/${k}`)
    .join('');
}

export interface PayloadProblem {
  /** JSON pointer into the payload ('' for the root). */
  path: string;
  message: string;
}

/**
 * Why PostgreSQL's jsonb would refuse this payload, which a JSON Schema cannot express: nesting
 * deeper than MAX_PAYLOAD_DEPTH, a NUL character, or an unpaired UTF-16 surrogate, in a value or a
 * property name. Undefined when it is storable. Iterative, so that no nesting overflows the stack.
 */
export function payloadProblem(payload: unknown): PayloadProblem | undefined {
  const stack: Node[] = [{ value: payload, depth: 0, parent: undefined, key: '' }];
  for (let node = stack.pop(); node; node = stack.pop()) {
    const { value, depth } = node;
    if (typeof value === 'string') {
      if (badText(value))
        return { path: pointer(node), message: 'must not contain NUL or unpaired surrogate characters' };
      continue;
    }
    if (typeof value !== 'object' || value === null) continue;
    if (depth >= MAX_PAYLOAD_DEPTH) {
      return { path: pointer(node), message: `must not nest deeper than ${MAX_PAYLOAD_DEPTH} levels` };
    }
    if (Array.isArray(value)) {
      for (let i = 0; i < value.length; i++) {
        stack.push({ value: value[i] as unknown, depth: depth + 1, parent: node, key: String(i) });
      }
      continue;
    }
    for (const [key, child] of Object.entries(value as Record<string, unknown>)) {
      const childNode: Node = { value: child, depth: depth + 1, parent: node, key };
      if (badText(key)) {
        return {
          path: pointer(childNode),
          message: 'property names must not contain NUL or unpaired surrogate characters',
        };
      }
      stack.push(childNode);
    }
  }
  return undefined;
}
