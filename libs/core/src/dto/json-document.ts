import { defaultMetadataStorage } from 'class-transformer/cjs/storage';

/**
 * DTO properties that hold a tenant's free-form JSON document (an event payload, a JSON Schema, a specimen), by
 * class. class-transformer would copy such a document value by value into the DTO instance, on the event loop, for
 * nothing: the validation pipe sets it aside while it validates the rest, then puts it back as it came.
 */
const DOCUMENTS = new Map<object, Set<string>>();

/** Marks a property as a free-form JSON document: validated by its own decorators on its kind, never copied. */
export function JsonDocument(): PropertyDecorator {
  return (target, key) => {
    const keys = DOCUMENTS.get(target.constructor) ?? new Set<string>();
    keys.add(String(key));
    DOCUMENTS.set(target.constructor, keys);
  };
}

function documentKeys(cls: object): Set<string> | undefined {
  let found: Set<string> | undefined;
  for (let c: object | null = cls; c && c !== Function.prototype; c = Object.getPrototypeOf(c) as object | null) {
    const own = DOCUMENTS.get(c);
    if (own) found = new Set([...(found ?? []), ...own]);
  }
  return found;
}

const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

export type DocumentPath = ReadonlyArray<string | number>;

export interface DetachedDocument {
  path: DocumentPath;
  value: object;
}

/**
 * Replaces, in place, each JSON document of `body` (per `cls` and the nested DTO classes its `@Type`s name) by an
 * empty stand-in of the same kind (`{}` or `[]`, so that `@IsObject()` still judges it), and returns the documents
 * with their paths. Only objects and arrays are set aside; a document of the wrong kind stays for its validators.
 */
export function detachJsonDocuments(cls: object, body: unknown): DetachedDocument[] {
  const detached: DetachedDocument[] = [];
  const visit = (c: object, node: Record<string, unknown>, path: DocumentPath, depth: number): void => {
    if (depth > 8) return;
    const documents = documentKeys(c);
    for (const key of Object.keys(node)) {
      const value = node[key];
      if (typeof value !== 'object' || value === null) continue;
      if (documents?.has(key)) {
        detached.push({ path: [...path, key], value });
        node[key] = Array.isArray(value) ? [] : {};
        continue;
      }
      const nested = defaultMetadataStorage.findTypeMetadata(c as new () => unknown, key)?.typeFunction?.();
      if (typeof nested !== 'function') continue;
      if (Array.isArray(value)) {
        value.forEach((item, i) => {
          if (isRecord(item)) visit(nested, item, [...path, key, i], depth + 1);
        });
      } else if (isRecord(value)) visit(nested, value, [...path, key], depth + 1);
    }
  };
  if (isRecord(body)) visit(cls, body, [], 0);
  return detached;
}

/** Puts documents back at their paths in `root` (the body as it came, or the DTO instance built from it). */
export function attachJsonDocuments(root: unknown, documents: readonly DetachedDocument[]): void {
  for (const { path, value } of documents) {
    let node: unknown = root;
    for (const key of path.slice(0, -1))
      node = isRecord(node) || Array.isArray(node) ? (node as Record<string, unknown>)[key] : undefined;
    if (typeof node === 'object' && node !== null) (node as Record<string, unknown>)[path[path.length - 1]] = value;
  }
}
