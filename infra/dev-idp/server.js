// Ward's local OpenID Connect provider: for development and tests only, never production.
// Any user name signs in (oidc-provider's devInteractions login form); the subject (`sub`) is
// the user name itself, and `sub` is the only claim there is. See README.md.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';

import Provider from 'oidc-provider';

const env = (name, fallback) => {
  const value = process.env[name];
  return value === undefined || value === '' ? fallback : value;
};

const port = Number(env('DEV_IDP_PORT', '9400'));
if (!Number.isInteger(port) || port < 1 || port > 65535) {
  console.error(`dev-idp: DEV_IDP_PORT must be a port number, not ${process.env.DEV_IDP_PORT}`);
  process.exit(2);
}
const issuer = env('DEV_IDP_ISSUER', `http://127.0.0.1:${port}`);
const clientId = env('DEV_IDP_CLIENT_ID', 'ward-dev');
const clientSecret = env('DEV_IDP_CLIENT_SECRET', 'ward-dev-secret');
const redirectUris = env('DEV_IDP_REDIRECT_URIS', 'http://127.0.0.1:8000/auth/oidc/callback,http://127.0.0.1:8080/auth/oidc/callback')
  .split(',')
  .map((uri) => uri.trim())
  .filter(Boolean);

// Signing and cookie keys are made afresh at every start and live only in memory: nothing
// here is a secret worth keeping, and restarting the provider ends every session anyway
// (its storage is in memory too).
const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const signingKey = { ...privateKey.export({ format: 'jwk' }), use: 'sig', alg: 'RS256' };

const configuration = {
  clients: [
    {
      client_id: clientId,
      client_secret: clientSecret,
      redirect_uris: redirectUris,
      grant_types: ['authorization_code'],
      response_types: ['code'],
      // A client registered for client_secret_basic may also send client_secret_post.
      token_endpoint_auth_method: 'client_secret_basic',
      id_token_signed_response_alg: 'RS256',
    },
  ],
  jwks: { keys: [signingKey] },
  cookies: {
    keys: [randomBytes(32).toString('base64url')],
    // Plain http on 127.0.0.1: no `Secure` flag (oidc-provider sets it only over https), and
    // SameSite=Lax instead of the default None, which browsers drop without `Secure`.
    long: { httpOnly: true, sameSite: 'lax', signed: true },
    short: { httpOnly: true, sameSite: 'lax', signed: true },
  },
  // Ward asks for `openid` and nothing else; there are no other scopes or claims to give.
  scopes: ['openid'],
  claims: { openid: ['sub'] },
  async findAccount(ctx, id) {
    return {
      accountId: id,
      async claims() {
        return { sub: id };
      },
    };
  },
  // The one client is first-party: grant it `openid` without a consent screen (the
  // "skip consent" recipe of oidc-provider). Authorize → login form → back to the client.
  async loadExistingGrant(ctx) {
    const { client, session, result } = ctx.oidc;
    const grantId = result?.consent?.grantId || session.grantIdFor(client.clientId);
    if (grantId) {
      return ctx.oidc.provider.Grant.find(grantId);
    }
    if (client.clientId !== clientId) {
      return undefined;
    }
    const grant = new ctx.oidc.provider.Grant({ clientId: client.clientId, accountId: session.accountId });
    grant.addOIDCScope('openid');
    await grant.save();
    return grant;
  },
  responseTypes: ['code'],
  clientAuthMethods: ['client_secret_basic', 'client_secret_post'],
  pkce: {
    methods: ['S256'],
    required: () => true,
  },
  features: {
    devInteractions: { enabled: true },
  },
  clientBasedCORS: () => false,
};

const provider = new Provider(issuer, configuration);
provider.proxy = false;

const server = createServer(provider.callback());
server.on('error', (error) => {
  console.error(`dev-idp: ${error.message}`);
  process.exit(1);
});
server.listen(port, '127.0.0.1', () => {
  console.log(`dev-idp listening on ${issuer}`);
});

const stop = () => {
  server.close(() => process.exit(0));
  server.closeAllConnections();
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
