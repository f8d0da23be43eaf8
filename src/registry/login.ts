/**
 * `login`: check credentials against a registry before they are stored, as Docker does:
 * GET /v2/; on a Basic challenge send them; on a Bearer challenge get a token with them
 * (no scope) and send that.
 */
import { StrataError } from '../base/errors.js';
import { statusText } from './auth.js';
import { RegistryClient } from './client.js';
import { discard } from './http.js';

export async function checkLogin(domain: string, username: string, password: string): Promise<void> {
  const client = new RegistryClient(domain, { creds: { username, password, source: 'login' } });
  await client.ping();
  if (!client.auth.challenge) return; // the registry lets everyone in
  const res = await client.request({ method: 'GET', url: '/v2/', scopes: [] });
  discard(res);
  if (res.status === 200) return;
  throw new StrataError('failed_precondition', `login attempt to ${client.url('/v2/').href} failed with status: ${res.status} ${statusText(res.status)}`);
}
