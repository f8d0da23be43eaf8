/** `inspect` lookups by object type; each part of the CLI registers its own. */
export const inspectors: { type: string; lookup: (name: string) => unknown }[] = [];
