/** The Strata release, shown by `strata version` and the Engine API's `/version`. */
export const VERSION = '0.1.0';
