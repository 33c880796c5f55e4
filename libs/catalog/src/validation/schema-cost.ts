import { RE2JS } from 're2js';

/**
 * The cost model a tenant's JSON Schema must pass before it is stored (docs/api-conventions.md, "Tenant schemas"):
 * every rule bounds a keyword whose validation cost would otherwise grow faster than the payload. Whatever passes
 * is still validated off the event loop with a deadline (validation-pool.ts); these rules make the common costly
 * cases a clear 422 at upsert instead of events cut off at publish.
 */
export const SCHEMA_LIMITS = {
  /** Subschemas (JSON objects in schema positions), definitions included. */
  nodes: 2_000,
  /** Nesting of the schema document itself. */
  depth: 32,
  /** The schema as JSON, in characters. */
  chars: 256 * 1024,
  /** Values of one `enum`. */
  enumValues: 1_000,
  /** Characters of one `pattern` or `patternProperties` key. */
  patternChars: 1_000,
  /** `maxItems` an array needs for `uniqueItems` when its items may be objects or arrays (pairwise comparison). */
  uniqueItemsMaxItems: 100,
  /** The range of `multipleOf` in which floating-point division decides it. */
  multipleOfMin: 1e-9,
  multipleOfMax: 1e15,
} as const;

export interface SchemaProblem {
  /** JSON pointer into the schema, e.g. `/properties/name/pattern`. */
  schema_path: string;
  keyword: string;
  message: string;
}

type Json = unknown;
type SchemaObject = Record<string, Json>;

const isObject = (v: Json): v is SchemaObject => typeof v === 'object' && v !== null && !Array.isArray(v);

const escapePointer = (key: string): string => key.replace(/~/g, '~0').replace(/\//g, '~1');
const SCALAR_TYPES = new Set(['string', 'number', 'integer', 'boolean', 'null']);

/**
 * How a subschema applies to the value: `null` in place (the same value), else a label for the part of the value
 * it descends into: `p:<name>` one property, `p:*` any property, `i:<n>` one item, `i:*` any item.
 */
type Label = string | null;
const IN_PLACE_ONE = ['not', 'if', 'then', 'else'];
const IN_PLACE_MANY = ['allOf', 'anyOf', 'oneOf'];
const IN_PLACE_MAP = ['dependentSchemas', 'dependencies'];
const ANY_PROPERTY = ['additionalProperties', 'unevaluatedProperties', 'propertyNames'];
const ANY_ITEM = ['additionalItems', 'contains', 'unevaluatedItems'];
/** Containers of subschemas reached only through `$ref`. */
const DEFINITIONS = ['definitions', '$defs'];

/**
 * A regular expression as Ajv's `code.regExp` engine: RE2 semantics (linear time in the input, no backtracking).
 * JavaScript syntax is translated first (`\uXXXX`, named groups); what RE2 cannot do (backreferences, lookaround)
 * throws, so such a pattern is refused at upsert.
 */
export function linearRegExp(pattern: string, flags = ''): { test: (s: string) => boolean; toString: () => string } {
  const re = RE2JS.compile(RE2JS.translateRegExp(pattern), flags.includes('i') ? RE2JS.CASE_INSENSITIVE : 0);
  // Ajv keys its compiled patterns by toString(): it must differ per pattern.
  return { test: (s: string) => re.matcher(s).find(), toString: () => `/${pattern}/${flags}` };
}
linearRegExp.code = 'linearRegExp';

function patternProblem(pattern: string): string | undefined {
  if (pattern.length > SCHEMA_LIMITS.patternChars)
    return `pattern is ${pattern.length} characters; at most ${SCHEMA_LIMITS.patternChars}`;
  try {
    linearRegExp(pattern);
    return undefined;
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    return `pattern cannot be matched in linear time (backreferences and lookaround are not supported): ${why}`;
  }
}

/**
 * Whether an `items` schema's `type` names only scalars: then Ajv checks `uniqueItems` with a hash, in linear time.
 * It reads `type` alone (an enum of scalars without a type is compared pair by pair), and so does this.
 */
function scalarItems(items: Json): boolean {
  if (!isObject(items)) return false;
  const types = typeof items.type === 'string' ? [items.type] : items.type;
  return Array.isArray(types) && types.length > 0 && types.every((t) => typeof t === 'string' && SCALAR_TYPES.has(t));
}

interface Node {
  schema: SchemaObject;
  pointer: string;
  depth: number;
}

/** Resolves a local `$ref` (`#` or `#/json/pointer`) against the root; undefined when it is not one. */
function resolvePointer(root: Json, ref: string): string | undefined {
  if (ref === '#') return '';
  if (!ref.startsWith('#/')) return undefined;
  const pointer = ref.slice(1);
  let at: Json = root;
  for (const raw of pointer.split('/').slice(1)) {
    const key = decodeURIComponent(raw).replace(/~1/g, '/').replace(/~0/g, '~');
    if (Array.isArray(at)) at = at[Number(key)];
    else if (isObject(at)) at = at[key];
    else return undefined;
  }
  return isObject(at)
    ? pointer
        .split('/')
        .map((s) => decodeURIComponent(s))
        .join('/')
    : undefined;
}

/** Strongly connected components (Tarjan, iterative) of a graph of `n` nodes given as adjacency lists. */
function stronglyConnected(n: number, edges: number[][]): number[] {
  const index = new Array<number>(n).fill(-1);
  const low = new Array<number>(n).fill(0);
  const onStack = new Array<boolean>(n).fill(false);
  const component = new Array<number>(n).fill(-1);
  const stack: number[] = [];
  let next = 0;
  let components = 0;
  for (let start = 0; start < n; start++) {
    if (index[start] !== -1) continue;
    const work: Array<[number, number]> = [[start, 0]];
    index[start] = low[start] = next++;
    stack.push(start);
    onStack[start] = true;
    while (work.length) {
      const frame = work[work.length - 1];
      const [v, i] = frame;
      if (i < edges[v].length) {
        frame[1]++;
        const w = edges[v][i];
        if (index[w] === -1) {
          index[w] = low[w] = next++;
          stack.push(w);
          onStack[w] = true;
          work.push([w, 0]);
        } else if (onStack[w]) low[v] = Math.min(low[v], index[w]);
        continue;
      }
      work.pop();
      if (work.length) {
        const parent = work[work.length - 1][0];
        low[parent] = Math.min(low[parent], low[v]);
      }
      if (low[v] === index[v]) {
        for (let w = stack.pop(); w !== undefined; w = stack.pop()) {
          onStack[w] = false;
          component[w] = components;
          if (w === v) break;
        }
        components++;
      }
    }
  }
  return component;
}

/**
 * Why validating against `schema` could cost more than linear time in the payload, one problem per offending
 * keyword (empty when the schema passes). Iterative and bounded by SCHEMA_LIMITS, so that checking a hostile
 * schema is itself cheap.
 */
export function schemaCostProblems(schema: Json): SchemaProblem[] {
  const problems: SchemaProblem[] = [];
  const add = (schema_path: string, keyword: string, message: string): void => {
    if (problems.length < 50) problems.push({ schema_path, keyword, message });
  };
  if (!isObject(schema)) {
    add('', 'type', 'a schema must be a JSON object');
    return problems;
  }
  const chars = JSON.stringify(schema).length;
  if (chars > SCHEMA_LIMITS.chars) {
    add('', 'schema', `the schema is ${chars} characters as JSON; at most ${SCHEMA_LIMITS.chars}`);
    return problems;
  }

  const nodes: Node[] = [];
  const ids = new Map<string, number>();
  /** Subschemas that apply to (a part of) a node's value: `[from, child pointer, label]`, `$ref`s resolved below. */
  const links: Array<[number, string, Label]> = [];
  const refs: Array<[number, string, string]> = [];
  const queue: Node[] = [{ schema, pointer: '', depth: 0 }];
  for (let node = queue.shift(); node; node = queue.shift()) {
    if (nodes.length >= SCHEMA_LIMITS.nodes) {
      add(node.pointer, 'schema', `the schema has more than ${SCHEMA_LIMITS.nodes} subschemas`);
      return problems;
    }
    if (node.depth > SCHEMA_LIMITS.depth) {
      add(node.pointer, 'schema', `subschemas nest deeper than ${SCHEMA_LIMITS.depth} levels`);
      return problems;
    }
    const id = nodes.length;
    nodes.push(node);
    ids.set(node.pointer, id);
    const { schema: s, pointer, depth } = node;
    const child = (key: string, value: Json, label: Label | false): void => {
      if (!isObject(value)) return;
      const childPointer = `${pointer}/${key}`;
      queue.push({ schema: value, pointer: childPointer, depth: depth + 1 });
      if (label !== false) links.push([id, childPointer, label]);
    };
    const each = (keyword: string, label: (name: string) => Label | false): void => {
      const value = s[keyword];
      if (Array.isArray(value)) value.forEach((v, i) => child(`${keyword}/${i}`, v, label(String(i))));
      else if (isObject(value) && keyword !== 'items')
        for (const [name, v] of Object.entries(value)) child(`${keyword}/${escapePointer(name)}`, v, label(name));
    };
    for (const k of IN_PLACE_ONE) child(k, s[k], null);
    for (const k of ANY_PROPERTY) child(k, s[k], 'p:*');
    for (const k of ANY_ITEM) child(k, s[k], 'i:*');
    child('contentSchema', s.contentSchema, 'c');
    if (isObject(s.items)) child('items', s.items, 'i:*');
    each('items', (i) => `i:${i}`);
    each('prefixItems', (i) => `i:${i}`);
    for (const k of IN_PLACE_MANY) each(k, () => null);
    for (const k of IN_PLACE_MAP) each(k, () => null);
    each('properties', (name) => `p:${name}`);
    each('patternProperties', () => 'p:*');
    for (const k of DEFINITIONS) each(k, () => false);
    checkKeywords(s, pointer, add);
    if (typeof s.$ref === 'string') refs.push([id, s.$ref, pointer]);
  }

  const edges: Array<Array<{ to: number; label: Label }>> = nodes.map(() => []);
  for (const [from, to, label] of links) edges[from].push({ to: ids.get(to) as number, label });
  for (const [from, ref, pointer] of refs) {
    const target = resolvePointer(schema, ref);
    const to = target === undefined ? undefined : ids.get(target);
    if (to === undefined) {
      add(`${pointer}/$ref`, '$ref', `$ref "${ref}" must point into this schema with a JSON pointer (#/...)`);
      continue;
    }
    edges[from].push({ to, label: null });
  }
  recursionProblems(nodes, edges, add);
  return problems;
}

/** Two ways into the same part of a value: equal labels, or a wildcard and a label of its kind. */
function overlaps(a: Label, b: Label): boolean {
  if (a === null || b === null || a === b) return true;
  return (a.endsWith(':*') && b.startsWith(a.slice(0, 2))) || (b.endsWith(':*') && a.startsWith(b.slice(0, 2)));
}

/**
 * Recursion ($ref cycles) is allowed when validation stays linear: every cycle must descend into the value (a
 * cycle in place never ends), and no subschema may branch twice into its own cycle through overlapping parts of
 * the value (e.g. `anyOf: [{$ref:'#'}, {$ref:'#'}]`, or `items` and `contains` both recursing): such branches
 * validate the same value once per path, and the paths double at every level of the payload.
 */
function recursionProblems(
  nodes: Node[],
  edges: Array<Array<{ to: number; label: Label }>>,
  add: (path: string, keyword: string, message: string) => void,
): void {
  const component = stronglyConnected(
    nodes.length,
    edges.map((out) => out.map((e) => e.to)),
  );
  const inPlace = stronglyConnected(
    nodes.length,
    edges.map((out) => out.filter((e) => e.label === null).map((e) => e.to)),
  );
  const inPlaceSize = new Map<number, number>();
  inPlace.forEach((c) => inPlaceSize.set(c, (inPlaceSize.get(c) ?? 0) + 1));
  const reported = new Set<number>();
  nodes.forEach((node, v) => {
    const c = component[v];
    if (reported.has(c)) return;
    const selfLoop = edges[v].some((e) => e.to === v && e.label === null);
    if (selfLoop || (inPlaceSize.get(inPlace[v]) ?? 0) > 1) {
      reported.add(c);
      add(
        node.pointer,
        '$ref',
        'this subschema refers back to itself without descending into the value: validation would never end',
      );
      return;
    }
    const recursive = edges[v].filter((e) => component[e.to] === c);
    for (let i = 0; i < recursive.length; i++) {
      for (let j = i + 1; j < recursive.length; j++) {
        if (!overlaps(recursive[i].label, recursive[j].label)) continue;
        reported.add(c);
        add(
          node.pointer,
          '$ref',
          'this subschema recurses through more than one branch into the same part of the value, so the cost of validation doubles with every level of the payload: recurse through one branch only',
        );
        return;
      }
    }
  });
}

function checkKeywords(
  s: SchemaObject,
  pointer: string,
  add: (path: string, keyword: string, message: string) => void,
): void {
  if (typeof s.pattern === 'string') {
    const problem = patternProblem(s.pattern);
    if (problem) add(`${pointer}/pattern`, 'pattern', problem);
  }
  if (isObject(s.patternProperties)) {
    for (const key of Object.keys(s.patternProperties)) {
      const problem = patternProblem(key);
      if (problem) add(`${pointer}/patternProperties/${escapePointer(key)}`, 'patternProperties', problem);
    }
  }
  if (Array.isArray(s.enum) && s.enum.length > SCHEMA_LIMITS.enumValues) {
    add(`${pointer}/enum`, 'enum', `enum has ${s.enum.length} values; at most ${SCHEMA_LIMITS.enumValues}`);
  }
  if (s.uniqueItems === true) {
    const scalar = scalarItems(s.items);
    const maxItems = typeof s.maxItems === 'number' ? s.maxItems : Infinity;
    if (!scalar && maxItems > SCHEMA_LIMITS.uniqueItemsMaxItems) {
      add(
        `${pointer}/uniqueItems`,
        'uniqueItems',
        `uniqueItems compares every pair of items unless they are scalars: declare items with a scalar type (string, number, integer, boolean, null) or set maxItems to at most ${SCHEMA_LIMITS.uniqueItemsMaxItems}`,
      );
    }
  }
  if (typeof s.multipleOf === 'number') {
    const m = s.multipleOf;
    if (!(m >= SCHEMA_LIMITS.multipleOfMin && m <= SCHEMA_LIMITS.multipleOfMax)) {
      add(
        `${pointer}/multipleOf`,
        'multipleOf',
        `multipleOf must be between ${SCHEMA_LIMITS.multipleOfMin} and ${SCHEMA_LIMITS.multipleOfMax}: outside that range floating-point division cannot decide it`,
      );
    }
  }
}
