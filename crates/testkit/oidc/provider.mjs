// An OpenID Connect provider for Berth's tests: the npm `oidc-provider`
// package (installed by scripts/test.sh) on 127.0.0.1:<port>, issuer
// http://127.0.0.1:<port>. Prints "listening" once it accepts requests.
//
// argv[3] is a JSON setup: { clients: [{ client_id, client_secret,
// redirect_uris, post_logout_redirect_uris }], accounts: { <login>: { name,
// email, groups } }, access_token_ttl }. Anyone may sign in with any login
// and password on the package's own development pages; consent is given
// on the user's behalf. `POST /test/disable/<login>` makes an account
// unknown until `POST /test/enable/<login>`, as when a directory removes
// a user: the provider then refuses to refresh its tokens.
//
// With `uaa: true` it also answers as Cloud Foundry UAA does for Harbor's
// UAA mode: the OAuth2 password grant at /oauth/token (checking the
// accounts' `password`) and the userinfo endpoint at /userinfo (with
// `user_name`). The package has no password grant of its own (OAuth 2.1
// drops it), so that one handler is written here.
import Provider, { errors } from 'oidc-provider';

const port = Number(process.argv[2]);
const setup = JSON.parse(process.argv[3] || '{}');
const accounts = setup.accounts || {};
const disabled = new Set();

const provider = new Provider(`http://127.0.0.1:${port}`, {
  clients: (setup.clients || []).map((c) => ({
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    ...c,
  })),
  cookies: { keys: ['berth-test-cookie-key'] },
  ...(setup.uaa ? { routes: { token: '/oauth/token', userinfo: '/userinfo' } } : {}),
  claims: {
    openid: ['sub'],
    email: ['email'],
    profile: ['name', 'preferred_username', 'user_name'],
    groups: ['groups'],
  },
  scopes: ['openid', 'offline_access', 'email', 'profile', 'groups'],
  ttl: {
    AccessToken: setup.access_token_ttl || 3600,
    IdToken: 3600,
    RefreshToken: 86400,
    Session: 86400,
    Grant: 86400,
    Interaction: 600,
    AuthorizationCode: 60,
  },
  features: {
    devInteractions: { enabled: true },
    rpInitiatedLogout: { enabled: true },
    revocation: { enabled: true },
  },
  // Like most providers, refresh tokens come with every code flow (the
  // package's default wants `offline_access` with `prompt=consent`).
  issueRefreshToken: async (_ctx, client) => client.grantTypeAllowed('refresh_token'),
  async findAccount(_ctx, id) {
    if (disabled.has(id)) return undefined;
    const a = accounts[id] || {};
    return {
      accountId: id,
      async claims() {
        return {
          sub: id,
          name: a.name ?? id,
          preferred_username: id,
          user_name: id,
          email: a.email ?? `${id}@example.com`,
          groups: a.groups ?? [],
        };
      },
    };
  },
  // Consent on the user's behalf, for every scope the client asks.
  async loadExistingGrant(ctx) {
    const grantId = ctx.oidc.result?.consent?.grantId
      || ctx.oidc.session.grantIdFor(ctx.oidc.client.clientId);
    if (grantId) return ctx.oidc.provider.Grant.find(grantId);
    const grant = new ctx.oidc.provider.Grant({
      clientId: ctx.oidc.client.clientId,
      accountId: ctx.oidc.session.accountId,
    });
    grant.addOIDCScope('openid offline_access email profile groups');
    await grant.save();
    return grant;
  },
});

if (setup.uaa) {
  provider.registerGrantType('password', async (ctx) => {
    const { username, password } = ctx.oidc.params;
    const a = accounts[username];
    if (!a || a.password !== password || disabled.has(username)) {
      throw new errors.InvalidGrant('invalid username or password');
    }
    const { client } = ctx.oidc;
    const scope = 'openid email profile';
    const grant = new provider.Grant({ accountId: username, clientId: client.clientId });
    grant.addOIDCScope(scope);
    const grantId = await grant.save();
    const token = new provider.AccessToken({
      accountId: username, client, grantId, scope, gty: 'password',
    });
    ctx.body = {
      access_token: await token.save(),
      token_type: 'Bearer',
      expires_in: token.expiration,
      scope,
    };
  }, ['username', 'password', 'scope']);
}

provider.use(async (ctx, next) => {
  const m = ctx.path.match(/^\/test\/(disable|enable)\/(.+)$/);
  if (m && ctx.method === 'POST') {
    const login = decodeURIComponent(m[2]);
    if (m[1] === 'disable') disabled.add(login);
    else disabled.delete(login);
    ctx.status = 204;
    return;
  }
  await next();
});

// Failures reach the test's stderr when it shows the provider's.
provider.on('server_error', (_ctx, err) => console.error('server_error', err));
provider.on('authorization.error', (_ctx, err) => console.error('authorization.error', err));

provider.listen(port, '127.0.0.1', () => console.log('listening'));
