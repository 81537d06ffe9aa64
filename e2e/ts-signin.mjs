// The official TypeScript SDK's OAuth client (@modelcontextprotocol/sdk,
// pinned in package.json) signs in to a running team server (--auth
// bitrix24) end to end: the 401, protected-resource and authorization-server
// discovery, dynamic registration, PKCE, the consent page and the portal's
// sign-in (driven here as a browser would, cookies included), the token, and
// then calls as the person the portal signed in. Then a refresh, and a
// revoked sign-in met with 401.
// Usage: node ts-signin.mjs BASE_URL   (signin_test.go runs it)
import assert from 'node:assert/strict';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { UnauthorizedError } from '@modelcontextprotocol/sdk/client/auth.js';

const [base] = process.argv.slice(2);
if (!base) throw new Error('usage: node ts-signin.mjs BASE_URL');
const redirectUrl = 'http://127.0.0.1:33418/oauth/callback';
let checks = 0;
const check = (ok, msg) => { checks++; assert.ok(ok, msg); };

// A person's browser: follows redirects by hand, keeps the cookie, answers
// the consent page, and stops at the client's redirect URI.
async function browse(url) {
  let cookie = '';
  let res = await fetch(url, { redirect: 'manual' });
  const setCookie = res.headers.get('set-cookie');
  if (setCookie) cookie = setCookie.split(';')[0];
  const page = await res.text();
  check(res.status === 200 && page.includes('Allow'), `the consent page: HTTP ${res.status}`);
  check(page.includes('ts-sdk-signin') && page.includes('chat:write'), 'the consent page names the client and what it may do');
  const id = /name="signin" value="([^"]+)"/.exec(page)[1];
  res = await fetch(new URL('/authorize/consent', base), {
    method: 'POST', redirect: 'manual', headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ signin: id, decision: 'allow' }),
  });
  for (let hops = 0; hops < 5; hops++) {
    const loc = res.headers.get('location');
    check(res.status >= 300 && res.status < 400 && loc, `a redirect, got HTTP ${res.status}`);
    if (loc.startsWith(redirectUrl)) return new URL(loc);
    res = await fetch(loc, { redirect: 'manual', headers: { cookie } });
  }
  throw new Error('the sign-in never came back to the client');
}

let authUrl;
const store = {};
const provider = {
  get redirectUrl() { return redirectUrl; },
  get clientMetadata() {
    return { client_name: 'ts-sdk-signin', redirect_uris: [redirectUrl], grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'], token_endpoint_auth_method: 'none' };
  },
  state() { return 'ts-state-1'; },
  clientInformation() { return store.client; },
  saveClientInformation(c) { store.client = c; },
  tokens() { return store.tokens; },
  saveTokens(t) { store.tokens = t; },
  redirectToAuthorization(u) { authUrl = u; },
  saveCodeVerifier(v) { store.verifier = v; },
  codeVerifier() { return store.verifier; },
};

const mcpUrl = new URL('/mcp', base);
let transport = new StreamableHTTPClientTransport(mcpUrl, { authProvider: provider });
let client = new Client({ name: 'ts-sdk-signin', version: '1' });
await assert.rejects(client.connect(transport), UnauthorizedError, 'the first connect asks for a sign-in');
check(authUrl && authUrl.searchParams.get('code_challenge_method') === 'S256', 'PKCE S256');
check(authUrl.searchParams.get('resource') === mcpUrl.href, `resource ${authUrl.searchParams.get('resource')}`);
check(store.client && store.client.client_id, 'registered dynamically');

const back = await browse(authUrl.href);
check(back.searchParams.get('iss') === base, `iss ${back.searchParams.get('iss')}`);
check(back.searchParams.get('state') === 'ts-state-1', 'state comes back');
await transport.finishAuth(back.searchParams.get('code'));
check(store.tokens && store.tokens.access_token && store.tokens.refresh_token, 'tokens');

transport = new StreamableHTTPClientTransport(mcpUrl, { authProvider: provider });
client = new Client({ name: 'ts-sdk-signin', version: '1' });
await client.connect(transport);
const chats = await client.callTool({ name: 'find_chats', arguments: { query: 'sales' } });
check(!chats.isError && JSON.stringify(chats.structuredContent).includes('Sales team'), 'find_chats as the person');
check(!JSON.stringify(chats.structuredContent).includes('Sales floor'), "another person's chat is not shown");
const members = await client.callTool({ name: 'list_dialog_users', arguments: { dialog_id: 'chat2725' } });
check(!members.isError, 'list_dialog_users');
await client.close();

// A refresh through the SDK: the stored access token is made to look spent.
const firstRefresh = store.tokens.refresh_token;
store.tokens = { ...store.tokens, access_token: 'b24mcp_at.spent.x' };
transport = new StreamableHTTPClientTransport(mcpUrl, { authProvider: provider });
client = new Client({ name: 'ts-sdk-signin', version: '1' });
await client.connect(transport);
check(store.tokens.refresh_token !== firstRefresh, 'the refresh token rotated');
check(!(await client.callTool({ name: 'get_chat', arguments: { dialog_id: 'chat2725' } })).isError, 'a call after the refresh');
await client.close();

// Revoked (RFC 7009): the token is refused with a 401 that says where to sign in.
const rv = await fetch(new URL('/revoke', base), { method: 'POST', body: new URLSearchParams({ token: store.tokens.refresh_token, client_id: store.client.client_id }) });
check(rv.status === 200, 'revoke');
const after = await fetch(mcpUrl, { method: 'POST', headers: { authorization: `Bearer ${store.tokens.access_token}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
  body: JSON.stringify({ jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'x', version: '1' } } }) });
check(after.status === 401 && after.headers.get('www-authenticate').includes('resource_metadata='), 'a revoked token gets 401 with resource_metadata');
console.log(`ts-sdk sign-in: ${checks} checks passed`);
