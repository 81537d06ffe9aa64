// The official TypeScript SDK's client (@modelcontextprotocol/sdk, pinned in
// package.json) against the built binary's demo portal, on every transport
// (stdio, Streamable HTTP, legacy SSE) and at every revision it speaks (it
// proposes 2025-11-25; older ones are offered by rewriting its initialize,
// as an older client would send it). Each cell: the tools, a call of each
// with the data in both channels, a tool error as isError, a cancelled call
// then another, 50 concurrent calls, removal declined, cancelled and
// accepted; and 401 with WWW-Authenticate without the token.
// Usage: node ts-sdk.mjs BINARY
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import assert from 'node:assert/strict';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { SSEClientTransport } from '@modelcontextprotocol/sdk/client/sse.js';
import { ElicitRequestSchema } from '@modelcontextprotocol/sdk/types.js';

const [bin] = process.argv.slice(2);
if (!bin) throw new Error('usage: node ts-sdk.mjs BINARY');
const token = 'ts-sdk-e2e-token-0123456789abcdef';
const versions = ['2024-11-05', '2025-03-26', '2025-06-18', '2025-11-25'];
const env = {
  ...process.env, BITRIX24_DEMO: 'true', BITRIX24_ENABLE_REMOVE: 'true', LOG_LEVEL: 'error',
  BITRIX24_RATE_LIMIT: '1000', BITRIX24_RATE_BURST: '1000', MCP_AUTH_TOKEN: token,
};

function freePort() {
  return new Promise((resolve) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => { const { port } = s.address(); s.close(() => resolve(port)); });
  });
}

async function startHTTP() {
  const port = await freePort();
  const child = spawn(bin, ['--transport', 'http', '--addr', `127.0.0.1:${port}`], { env, stdio: ['ignore', 'ignore', 'inherit'] });
  const base = `http://127.0.0.1:${port}`;
  for (let i = 0; i < 100; i++) {
    try { if ((await fetch(`${base}/healthz`)).ok) return { base, child }; } catch { /* not yet */ }
    await new Promise((r) => setTimeout(r, 50));
  }
  child.kill();
  throw new Error('the server never became healthy');
}

// atVersion makes the client's initialize propose version.
function atVersion(transport, version) {
  const send = transport.send.bind(transport);
  transport.send = (msg, opts) => {
    if (msg.method === 'initialize') msg = { ...msg, params: { ...msg.params, protocolVersion: version } };
    return send(msg, opts);
  };
  return transport;
}

const auth = { Authorization: `Bearer ${token}` };
function transportFor(kind, base) {
  switch (kind) {
    case 'stdio': return new StdioClientTransport({ command: bin, args: ['--demo'], env, stderr: 'inherit' });
    case 'http': return new StreamableHTTPClientTransport(new URL(`${base}/mcp`), { requestInit: { headers: auth } });
    case 'sse': return new SSEClientTransport(new URL(`${base}/sse`), {
      requestInit: { headers: auth },
      eventSourceInit: { fetch: (url, init) => fetch(url, { ...init, headers: { ...init?.headers, ...auth } }) },
    });
  }
  throw new Error(kind);
}

const text = (r) => r.content.filter((c) => c.type === 'text').map((c) => c.text).join('');

async function cell(kind, version) {
  let server;
  if (kind !== 'stdio') server = await startHTTP();
  const answer = { action: 'decline', asked: 0 };
  const client = new Client({ name: 'ts-sdk-e2e', version: '1' }, { capabilities: { elicitation: {} } });
  client.setRequestHandler(ElicitRequestSchema, async () => {
    answer.asked++;
    return answer.action === 'accept' ? { action: 'accept', content: { confirm: true } } : { action: answer.action };
  });
  let checks = 0;
  const ok = (cond, what) => { checks++; assert.ok(cond, `${kind} ${version}: ${what}`); };
  try {
    await client.connect(atVersion(transportFor(kind, server?.base), version));
    ok(client.getServerVersion()?.name === 'bitrix24-chat-mcp', 'serverInfo');
    const names = (await client.listTools()).tools.map((t) => t.name).sort();
    ok(JSON.stringify(names) === JSON.stringify(['add_chat_users', 'bot_chat_members', 'compare_chat_with_team', 'find_chats', 'find_teams', 'find_users', 'get_bot_chat', 'get_chat', 'list_dialog_users', 'list_team_members', 'remove_chat_users', 'sync_chat_with_team']), `tools ${names}`);
    for (const [tool, args, line, data] of [
      ['find_chats', { query: 'Sales' }, '\n2935 | chat2935 | Sales team | chat |', '"dialog_id":"chat2935"'],
      ['find_users', { query: 'Peterson' }, '\n99 | Catherine Peterson | user |', '[99,"Catherine Peterson","user",'],
      ['get_chat', { dialog_id: 'chat2935' }, '\nname: Sales team\n', '"name":"Sales team"'],
      ['list_dialog_users', { dialog_id: 'chat2935' }, '\n1269 | Alexander Smith | user |', '[1269,"Alexander Smith","user",'],
      ['add_chat_users', { chat_id: 2725, user_ids: [1019, 1271] }, '\nadded: 1019\nalready_members: 1271', '"already_members":[1271]'],
      ['bot_chat_members', { chat_id: 2725 }, '\nmember_ids: ', '"member_ids":['],
      ['get_bot_chat', { dialog_id: 'chat5' }, '\nname: Support Chat\n', '"name":"Support Chat"'],
      ['find_teams', { query: 'Sales' }, '\ndepartment 2 | Sales | Example Corp / Sales | head 1401 |', '"path":"Example Corp / Sales"'],
      ['list_team_members', { workgroups: [11] }, '\n1269 | Alexander Smith | user |', '"owner_id":1269'],
      ['compare_chat_with_team', { chat_id: 2935, workgroups: [11] }, '\n1291 | Maria Jones | user |', '"missing_count":2'],
      ['sync_chat_with_team', { chat_id: 2935, workgroups: [11], dry_run: true }, '\nadded: 1291,1401\n', '"added":[1291,1401]'],
    ]) {
      // callTool validates structuredContent against the tool's outputSchema.
      const r = await client.callTool({ name: tool, arguments: args });
      ok(!r.isError && text(r).includes(line), `${tool}: ${text(r).slice(0, 300)}`);
      ok(JSON.stringify(r.structuredContent).includes(data), `${tool}: structuredContent`);
    }
    let r = await client.callTool({ name: 'get_bot_chat', arguments: { dialog_id: 'chat3000' } });
    ok(r.isError && /ACCESS_DENIED/.test(text(r)) && /Hint:/.test(text(r)), 'a Bitrix24 error as isError');
    r = await client.callTool({ name: 'list_dialog_users', arguments: { dialog_id: 'chat1', limit: 0 } });
    ok(r.isError && /limit:/.test(text(r)), 'bad input as isError');

    const aborted = await client.callTool({ name: 'list_dialog_users', arguments: { dialog_id: 'chat9002', all: true } }, undefined,
      { signal: AbortSignal.timeout(1) }).then(() => false, () => true);
    ok(aborted, 'the cancelled call rejects');
    r = await client.callTool({ name: 'list_dialog_users', arguments: { dialog_id: 'chat2935' } });
    ok(!r.isError, 'a call after the cancel');

    const dialogs = ['chat2935', 'chat2725', 'chat5', 'chat13'];
    const many = await Promise.all(Array.from({ length: 50 }, (_, i) =>
      client.callTool({ name: 'list_dialog_users', arguments: { dialog_id: dialogs[i % 4] } })));
    ok(many.every((m) => !m.isError), '50 concurrent calls');

    // A cancel is not a decline: the model is told the person did not decline.
    for (const [action, word] of [['decline', /declined by the user/], ['cancel', /they did not decline/]]) {
      answer.action = action;
      const before = answer.asked;
      r = await client.callTool({ name: 'remove_chat_users', arguments: { chat_id: 4000, user_ids: [1403] } });
      ok(r.isError && word.test(text(r)) && answer.asked === before + 1, `remove, ${action}: ${text(r)}`);
    }
    answer.action = 'accept';
    r = await client.callTool({ name: 'remove_chat_users', arguments: { chat_id: 4000, user_ids: [1403] } });
    ok(!r.isError && JSON.stringify(r.structuredContent.removed) === '[1403]', `remove, accept: ${text(r)}`);
    if (server) {
      for (const [path, method] of [['/mcp', 'POST'], ['/sse', 'GET']]) {
        for (const bad of [{}, { Authorization: 'Bearer wrong' }]) {
          const res = await fetch(`${server.base}${path}`, { method, headers: { ...bad, 'Content-Type': 'application/json' }, body: method === 'POST' ? '{}' : undefined });
          ok(res.status === 401 && /^Bearer /.test(res.headers.get('www-authenticate') ?? ''), `${method} ${path} without the token: ${res.status}`);
        }
      }
    }
  } finally {
    await client.close().catch(() => {});
    server?.child.kill();
  }
  return checks;
}

let cells = 0;
let checks = 0;
for (const kind of ['stdio', 'http', 'sse']) {
  for (const version of versions) {
    checks += await cell(kind, version);
    cells++;
    console.log(`ok  ts-sdk ${kind} ${version}`);
  }
}
console.log(`ts-sdk: ${cells} cells, ${checks} checks passed`);
