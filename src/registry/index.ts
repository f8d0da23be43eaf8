/**
 * registry/: the OCI distribution client.
 *
 *   RegistryClient.for(domain).repository(path, ['pull'|'push'])  manifests, blobs, uploads, tags
 *   Authorizer / parseChallenges                                     Bearer (token) and Basic auth
 *   getCredentials / saveCredentials / removeCredentials             ~/.strata/config.json (+ Docker's file)
 *   checkLogin                                                       `login`: do these credentials work?
 */
export { RegistryClient } from './client.js';
export { RegistryError, resolveEndpoint } from './endpoint.js';
export { RETRY, backoff, isRetryable, sleep } from './retry.js';
export { Repository, type FetchedManifest } from './repository.js';
export { type BlobReader, counterClass, type BlobDescriptor } from './blob-reader.js';
export { errorText, mergeScopes, parseChallenges, repoScope } from './auth.js';
export { DOCKER_HUB, authKey, dockerConfigPath, dockerHasCredentials, getCredentials, normalizeServer, registrySettings, removeCredentials, saveCredentials, strataConfigPath, type Credentials, type PushCompression } from './config.js';
export { checkLogin } from './login.js';
