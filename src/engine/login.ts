/**
 * `login` / `logout`: credentials checked against the registry, then kept in Strata's
 * config file (see registry/config.ts for where and in which shape).
 */
import {
  DOCKER_HUB, RegistryClient, authKey, checkLogin, dockerConfigPath, dockerHasCredentials, getCredentials, normalizeServer,
  removeCredentials, saveCredentials, strataConfigPath, type Credentials,
} from '../registry/index.js';

/** `localhost:5000`, `https://index.docker.io/v1/` -> the registry domain (default Docker Hub). */
export function loginDomain(server?: string): string {
  return server ? normalizeServer(server) : DOCKER_HUB;
}

/** How Docker names a server in login/logout messages. */
export function serverDisplayName(domain: string): string {
  return authKey(domain);
}

export function storedCredentials(domain: string): Credentials | undefined {
  return getCredentials(domain);
}

/** Check the credentials with the registry, then store them. Returns the file written. */
export async function login(domain: string, username: string, password: string): Promise<string> {
  await checkLogin(domain, username, password);
  const file = saveCredentials(domain, username, password);
  RegistryClient.reset();
  return file;
}

/** Remove stored credentials; `removed` is false when there were none in Strata's file. */
export function logout(domain: string): { removed: boolean; dockerStillHas: boolean; dockerFile: string; file: string } {
  const removed = removeCredentials(domain);
  RegistryClient.reset();
  return { removed, dockerStillHas: dockerHasCredentials(domain), dockerFile: dockerConfigPath(), file: strataConfigPath() };
}

export { checkLogin };
