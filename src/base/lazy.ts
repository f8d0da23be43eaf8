/**
 * A class defined on its first use. Subclasses of node:stream's classes are built this way:
 * defining one when its module loads would load node:stream (~1.5 ms of a ~50 ms command),
 * which listings and most other commands never use.
 */
export function definedOnUse<C>(define: () => C): () => C {
  let c: C | undefined;
  return () => (c ??= define());
}
