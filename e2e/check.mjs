// End-to-end checks with the official MCP inspector CLI against the demo
// portal: list the tools and call each one, asserting on the JSON printed.
// Usage: node check.mjs BINARY [stdio|sse|http ...]
import { execFileSync, spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';

const here = dirname(fileURLToPath(import.meta.url));
const inspector = join(here, 'node_modules', '.bin', 'mcp-inspector');
const [bin, ...transports] = process.argv.slice(2);
if (!bin) throw new Error('usage: node check.mjs BINARY [stdio|sse|http ...]');

function inspect(target, method, extra = []) {
  let out;
  try {
    out = execFileSync(inspector, ['--cli', ...target, '--method', method, ...extra], {
      encoding: 'utf8', timeout: 60_000, stdio: ['ignore', 'pipe', 'pipe'],
    });
  } catch (e) {
    // The inspector exits 5 after printing a tool result with isError: true.
    if (e.status !== 5) throw new Error(`inspector ${method} failed (${e.status}): ${e.stderr}`);
    out = e.stdout;
  }
  return JSON.parse(out);
}

function call(target, tool, args) {
  const extra = ['--tool-name', tool];
  for (const [k, v] of Object.entries(args)) {
    extra.push('--tool-arg', `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`);
  }
  return inspect(target, 'tools/call', extra);
}

function checkAll(target, label) {
  const list = inspect(target, 'tools/list');
  const names = list.tools.map((t) => t.name).sort();
  assert.deepEqual(names, ['add_chat_users', 'bot_chat_members', 'compare_chat_with_team', 'find_chats', 'find_teams', 'find_users', 'get_bot_chat', 'get_chat', 'list_dialog_users', 'list_team_members', 'sync_chat_with_team']);
  for (const t of list.tools) {
    const a = t.annotations;
    assert.ok([a.readOnlyHint, a.destructiveHint, a.idempotentHint, a.openWorldHint].every((h) => typeof h === 'boolean'), `${t.name} hints`);
    assert.equal(t.outputSchema.type, 'object');
    assert.ok(!JSON.stringify(t.inputSchema).includes('$ref'), `${t.name}: $ref in schema`);
  }

  let r = call(target, 'find_chats', { query: 'Sales' });
  assert.deepEqual(r.structuredContent.chats.map((c) => c.id), [4000, 2935]);
  assert.match(r.content[0].text, /\n2935 \| chat2935 \| Sales team \|/);

  r = call(target, 'find_users', { query: 'Peterson' });
  assert.deepEqual(r.structuredContent.columns, ['id', 'name', 'type', 'flags', 'position']);
  assert.equal(r.structuredContent.rows[0][0], 99);
  assert.match(r.content[0].text, /\n99 \| Catherine Peterson \|/);

  r = call(target, 'find_teams', { query: 'Sales' });
  assert.deepEqual(r.structuredContent.departments.map((d) => d.id), [2, 122]);
  assert.match(r.content[0].text, /\ndepartment 2 \| Sales \| Example Corp \/ Sales \|/);

  r = call(target, 'compare_chat_with_team', { chat_id: 2935, workgroups: [11] });
  assert.equal(r.structuredContent.missing_count, 2);
  assert.deepEqual(r.structuredContent.missing.rows.map((row) => row[0]), [1291, 1401]);

  r = call(target, 'get_chat', { dialog_id: 'chat2935' });
  assert.equal(r.structuredContent.chat.role, 'owner');

  r = call(target, 'list_dialog_users', { dialog_id: 'chat2935', limit: 2 });
  assert.equal(r.isError ?? false, false, JSON.stringify(r));
  assert.equal(r.structuredContent.total, 5);
  assert.equal(r.structuredContent.rows.length, 2);
  assert.equal(r.structuredContent.next_offset, 2);

  r = call(target, 'add_chat_users', { chat_id: 2935, user_ids: [1291, 99, 777] });
  assert.deepEqual(r.structuredContent.added, [1291]);
  assert.deepEqual(r.structuredContent.already_members, [99]);
  assert.equal(r.structuredContent.not_added[0].id, 777);

  r = call(target, 'bot_chat_members', { chat_id: 9001 });
  assert.equal(r.structuredContent.count, 452);
  assert.equal(r.structuredContent.source, 'imbot.chat.user.list');

  r = call(target, 'get_bot_chat', { dialog_id: 'chat5' });
  assert.equal(r.structuredContent.chat.name, 'Support Chat');
  assert.equal(r.structuredContent.chat.user_counter, 3);

  r = call(target, 'get_bot_chat', { dialog_id: 'chat3000' });
  assert.equal(r.isError, true);
  assert.match(r.content[0].text, /ACCESS_DENIED/);

  r = call(target, 'list_dialog_users', { dialog_id: 'general' });
  assert.equal(r.isError, true);
  assert.match(r.content[0].text, /dialog_id/);
  console.log(`ok  ${label}: tools/list and a call of each tool`);
}

async function withServer(args, env, fn) {
  const child = spawn(bin, args, { env: { ...process.env, ...env }, stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => { stderr += d; });
  const url = `http://${env.MCP_ADDR}`;
  for (let i = 0; i < 100; i++) {
    try { if ((await fetch(`${url}/healthz`)).ok) break; } catch { /* not up yet */ }
    await new Promise((r) => setTimeout(r, 100));
  }
  try {
    fn(url);
  } catch (e) {
    console.error(stderr);
    throw e;
  } finally {
    child.kill('SIGTERM');
  }
}

for (const transport of transports.length ? transports : ['stdio']) {
  if (transport === 'stdio') {
    checkAll([bin, '--demo'], 'stdio');
  } else {
    const token = 'e2e-token-' + process.pid;
    const addr = `127.0.0.1:${18000 + Math.floor(Math.random() * 2000)}`;
    await withServer(['--demo', '--transport', transport], { MCP_ADDR: addr, MCP_AUTH_TOKEN: token }, (url) => {
      const path = transport === 'sse' ? '/sse' : '/mcp';
      const kind = transport === 'sse' ? 'sse' : 'http';
      checkAll([`${url}${path}`, '--transport', kind, '--header', `Authorization: Bearer ${token}`], transport);
    });
  }
}
console.log('e2e: all passed');
