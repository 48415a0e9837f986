// @peculiar/x509 uses tsyringe, which refuses to load without a Reflect
// metadata polyfill. The project does not depend on `reflect-metadata`, and
// tsyringe only needs these three functions, so a WeakMap does the job.
// Import this module before @peculiar/x509 (ESM evaluates imports in order).
type MetadataTable = Map<unknown, unknown>;
const store = new WeakMap<object, MetadataTable>();

const reflect = Reflect as unknown as Record<string, unknown>;
if (typeof reflect['getMetadata'] !== 'function') {
  const ownTable = (target: object, create: boolean): MetadataTable | undefined => {
    let table = store.get(target);
    if (!table && create) {
      table = new Map();
      store.set(target, table);
    }
    return table;
  };
  reflect['defineMetadata'] = (key: unknown, value: unknown, target: object): void => {
    ownTable(target, true)?.set(key, value);
  };
  reflect['getOwnMetadata'] = (key: unknown, target: object): unknown => ownTable(target, false)?.get(key);
  reflect['getMetadata'] = (key: unknown, target: object): unknown => {
    for (let t: object | null = target; t; t = Object.getPrototypeOf(t) as object | null) {
      const table = ownTable(t, false);
      if (table?.has(key)) return table.get(key);
    }
    return undefined;
  };
}
