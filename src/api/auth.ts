/**
 * `POST /auth` (`docker login` through the API): the credentials are checked with the
 * registry and kept in the same store as `strata login`, so later pulls and pushes by this
 * server and by the CLI use them.
 */
import { StrataError } from '../base/errors.js';
import { jsonBody, sendJson } from './http.js';
import type { Ctx, Route } from './route.js';

async function auth(ctx: Ctx): Promise<void> {
  const b = await jsonBody<{ username: string; password: string; serveraddress: string; identitytoken: string }>(ctx.req);
  if (!b.username || (!b.password && !b.identitytoken)) throw new StrataError('invalid_argument', 'Error: username and password are required');
  const domain = ctx.engine.registry.loginDomain(b.serveraddress || undefined);
  try {
    await ctx.engine.registry.login(domain, b.username, b.password ?? b.identitytoken ?? '');
  } catch (e) {
    const msg = (e as Error).message;
    if (e instanceof StrataError && e.code !== 'unavailable' && e.code !== 'internal') {
      sendJson(ctx.res, 401, { message: msg });
      return;
    }
    throw e;
  }
  sendJson(ctx.res, 200, { Status: 'Login Succeeded', IdentityToken: '' });
}

export function authRoutes(): Route[] {
  return [{ method: 'POST', re: /^\/auth$/, handler: auth }];
}
