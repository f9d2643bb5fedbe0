/**
 * Field-name styles. The store's records and the CLI's `--json` use snake_case (the CLI/JSON
 * contract); the SDK's results are camelCase. `camel` turns a store record into the SDK's shape,
 * key by key, all the way down; `snake` is its inverse, for a face (MCP) that holds an SDK result
 * and reports the CLI's shape. Values are never touched, and the values of `detail` (an audit
 * record's free-form details) keep their own keys.
 */

/** `changed_files` → `changedFiles`. */
export type CamelKey<S extends string> = S extends `${infer Head}_${infer Tail}` ? `${Head}${Capitalize<CamelKey<Tail>>}` : S;

/** Keys whose values are data, not fields: kept as they are. */
type Opaque = 'detail';

/** A record with every field name camelCased, recursively (arrays, unions and optional fields kept). */
export type Camel<T> = T extends string | number | boolean | bigint | symbol | null | undefined | RegExp | Uint8Array | ((...args: never[]) => unknown)
  ? T
  : T extends ReadonlyArray<infer U>
    ? Camel<U>[]
    : { [K in keyof T as K extends string ? CamelKey<K> : K]: K extends Opaque ? T[K] : Camel<T[K]> };

const OPAQUE: ReadonlySet<string> = new Set<Opaque>(['detail']);

const isRecord = (v: unknown): v is Record<string, unknown> => {
  if (v === null || typeof v !== 'object') return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
};

const toCamel = (key: string) => key.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
const toSnake = (key: string) => key.replace(/[A-Z]/g, (c) => '_' + c.toLowerCase());

function convert(value: unknown, rename: (key: string) => string): unknown {
  if (Array.isArray(value)) return value.map((v) => convert(v, rename));
  if (!isRecord(value)) return value;
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(value)) out[rename(key)] = OPAQUE.has(key) ? v : convert(v, rename);
  return out;
}

/** A store record (snake_case fields) as the SDK returns it (camelCase fields). */
export const camel = <T>(value: T): Camel<T> => convert(value, toCamel) as Camel<T>;

/**
 * An SDK result back in the CLI's field names: the inverse of `camel` for records whose field
 * names are lowercase snake_case words (every avfs record; test/unit/case.test.ts checks the round trip).
 */
export const snake = <T>(value: Camel<T>): T => convert(value, toSnake) as T;
