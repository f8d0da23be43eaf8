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
export {
  type Change, type ChangeKind, type DiffOptions, diffLayerStacks, diffStackVsUpper, diffUpper, formatChanges, sortChanges,
} from './diff.js';
export {
  type ApiChange, type ChangeSides, type ChangeSummary, type JsonChange, type KindSummary, API_KIND,
  changeSizes, changesToApi, changesToJson, formatSummary, summarize,
} from './report.js';
export {
  type ExcludeFn, type ExcludeSpec, type NoiseKind, type NoiseLine, type StatLike, NOISE_LABELS, NoiseCollector,
  buildExclude, classifyNoise, compileGlob, formatNoiseReport, noiseReport,
} from './noise.js';
export {
  type DockerfileInput, type ExecRecord, PROVENANCE_LABEL, describeExec, dockerfileFor, provenanceComment, provenanceLabel, runLine,
} from './provenance.js';
export {
  type DirListing, type EntryType, type ListOptions, type Mark, type TreeEntry, DEFAULT_LIMIT, dirSizes, display, layerSubtreeBytes, listLayerDir, listMergedDir, relOf, resolveFile,
} from './tree.js';
export { type FileReference, type LayerWaste, type WasteReport, analyzeLayers } from './waste.js';
