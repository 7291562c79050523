// The OpenID Provider the registry's tests sign in through: the certified
// `oidc-provider` package, on http://127.0.0.1:PORT, with one client whose settings
// and accounts come from a JSON file. Accounts are read again at every sign-in, so a
// test changes a person's groups between two sign-ins by rewriting the file.
// Usage: node provider.mjs PORT CONFIG.json   (prints "ready" once it listens)
import fs from 'node:fs';
import Provider from 'oidc-provider';

const [, , port, configPath] = process.argv;
const config = JSON.parse(fs.readFileSync(configPath, 'utf8'));
const accounts = () => JSON.parse(fs.readFileSync(config.accounts_file, 'utf8'));

const provider = new Provider(`http://127.0.0.1:${port}`, {
  clients: [{
    client_id: config.client_id,
    client_secret: config.client_secret,
    redirect_uris: config.redirect_uris,
    post_logout_redirect_uris: config.post_logout_redirect_uris,
    response_types: ['code'],
    grant_types: ['authorization_code'],
  }],
  pkce: { required: () => true },
  scopes: ['openid', 'email', 'profile', 'groups'],
  claims: { openid: ['sub'], email: ['email', 'email_verified'], profile: ['name'], groups: ['groups'] },
  // The scopes' claims in the ID token itself (the registry reads the ID token).
  conformIdTokenClaims: false,
  cookies: { keys: ['registry-tests-only'] },
  features: { devInteractions: { enabled: true }, rpInitiatedLogout: { enabled: true } },
  async findAccount(ctx, id) {
    const account = accounts()[id];
    if (!account) return undefined;
    return {
      accountId: id,
      async claims() {
        return { sub: id, email: account.email, email_verified: true, name: account.name, groups: account.groups };
      },
    };
  },
  // No consent screen: the test client is first-party.
  async loadExistingGrant(ctx) {
    const grant = new ctx.oidc.provider.Grant({
      clientId: ctx.oidc.client.clientId,
      accountId: ctx.oidc.session.accountId,
    });
    grant.addOIDCScope('openid email profile groups');
    grant.addOIDCClaims(['sub', 'email', 'email_verified', 'name', 'groups']);
    await grant.save();
    return grant;
  },
});
provider.listen(Number(port), '127.0.0.1', () => { console.log('ready'); });
