/**
 * changes/: what changed in a container or between images, and commit hygiene.
 *
 *   diffUpper(upper, lowers, {hide, exclude})        -> Change[]  (docker diff, from the upper dir only)
 *   diffLayerStacks(olderStack, newerStack, opts)    -> Change[]  (image vs image, shared layers skipped)
 *   diffStackVsUpper(imageStack, upper, ctrLowers)   -> Change[]  (image vs container)
 *   summarize / changeSizes / changesToJson / changesToApi         (diff --summary, --format json, API body)
 *   classifyNoise / buildExclude / noiseReport                     (--exclude, --exclude-noise, the report)
 *   provenanceLabel / dockerfileFor                                (execs recorded by the engine)
 */
export { type Change, type DiffOptions, diffLayerStacks, diffStackVsUpper, diffUpper, formatChanges } from './diff.js';
export { changeSizes, changesToApi, changesToJson, formatSummary, summarize } from './report.js';
export { type ExcludeFn, type NoiseLine, type StatLike, NoiseCollector, buildExclude, classifyNoise, compileGlob, formatNoiseReport, noiseReport } from './noise.js';
export { type ExecRecord, PROVENANCE_LABEL, dockerfileFor, provenanceComment, provenanceLabel } from './provenance.js';
export { type DirListing, type ListOptions, dirSizes, listLayerDir, listMergedDir, resolveFile } from './tree.js';
export { type WasteReport, analyzeLayers } from './waste.js';
