/**
 * registry/: the OCI distribution client.
 *
 *   RegistryClient.for(domain).repository(path, ['pull'|'push'])  manifests, blobs, uploads, tags
 *   Authorizer / parseChallenges                                     Bearer (token) and Basic auth
 *   getCredentials / saveCredentials / removeCredentials             ~/.strata/config.json (+ Docker's file)
 *   checkLogin                                                       `login`: do these credentials work?
 */
export { RegistryClient } from './client.js';
export { CONFIG_LIMIT, MANIFEST_ACCEPT, MANIFEST_LIMIT, RegistryError, registryError, resolveEndpoint, type Endpoint } from './endpoint.js';
export { RETRY, backoff, isRetryable, sleep } from './retry.js';
export { Repository, manifestMediaType, type FetchedManifest } from './repository.js';
export { BlobReader, Counter, type BlobDescriptor, type BlobReaderOptions } from './blob-reader.js';
export { Authorizer, errorText, mergeScopes, parseChallenges, repoScope, type Challenge } from './auth.js';
export {
  DOCKER_HUB, DOCKER_HUB_AUTH_KEY, authKey, dockerConfigPath, dockerHasCredentials, getCredentials, normalizeServer, readConfigFile,
  registrySettings, removeCredentials, saveCredentials, strataConfigPath,
  type ClientConfig, type Credentials, type PushCompression, type RegistrySettings,
} from './config.js';
export { NetworkError, describeNetError, httpRequest } from './http.js';
export { checkLogin } from './login.js';
