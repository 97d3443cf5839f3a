// CTest driver for the end-to-end tests: starts `sieve serve` on a free
// loopback port with the shipped test model, waits for /health, runs the
// node:test suites against it, then checks a graceful shutdown (SIGTERM while
// a stream runs: the stream finishes, the process exits 0).
//
// usage: node tests/e2e/run.mjs SIEVE_BINARY MODEL
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const [binary, model] = process.argv.slice(2);
const apiKey = 'sk-sieve-e2e';

function fail(message) {
  console.error(`serve e2e: ${message}`);
  process.exit(1);
}

if (!binary || !model) fail('usage: node run.mjs SIEVE_BINARY MODEL');
if (!existsSync(binary)) fail(`no sieve binary at ${binary}`);
if (!existsSync(join(here, 'node_modules', 'openai')))
  fail(`the openai package is not installed: run 'npm ci' in ${here} (.ci/run does)`);

const server = spawn(binary, ['serve', '-m', model, '--port', '0', '--api-key', apiKey, '--parallel', '16',
  '--threads', '1', '--ctx', '2048', '--kv-memory', '128', '--batch-invariant', '--request-timeout', '3', '--max-body', '8', '--shutdown-timeout', '20',
  '--chat-template-file', join(here, 'chat-template.jinja')],
  { stdio: ['ignore', 'inherit', 'pipe'] });
let exited = null;
const exitPromise = new Promise((resolve) => server.on('exit', (code, signal) => { exited = { code, signal }; resolve(exited); }));
const killTimer = setTimeout(() => { server.kill('SIGKILL'); fail('took longer than 170 s; killed the server'); }, 170_000);

// The port comes from the server's first line: "listening on http://127.0.0.1:PORT".
const port = await new Promise((resolve) => {
  let text = '';
  server.stderr.on('data', (d) => {
    process.stderr.write(d);
    text += d.toString();
    const m = text.match(/listening on http:\/\/127\.0\.0\.1:(\d+)/);
    if (m) resolve(Number(m[1]));
  });
  exitPromise.then(() => resolve(0));
});
if (!port) fail(`the server exited before listening (${JSON.stringify(exited)})`);
const base = `http://127.0.0.1:${port}`;

for (let i = 0; ; i++) {
  if (exited) fail(`the server exited while loading (${JSON.stringify(exited)})`);
  if (i >= 600) fail('the server did not become healthy within 60 s');
  try {
    const r = await fetch(`${base}/health`);
    if (r.status === 200) break;
    if (r.status !== 503) fail(`/health answered ${r.status} while loading`);
  } catch { /* not accepting yet */ }
  await new Promise((r) => setTimeout(r, 100));
}

const env = { ...process.env, SIEVE_URL: base, SIEVE_API_KEY: apiKey, SIEVE_MODEL: model.split('/').filter(Boolean).pop() };
const tests = spawn(process.execPath, ['--test', '--test-reporter=spec', join(here, 'serve.test.mjs')], { stdio: 'inherit', env });
const testCode = await new Promise((resolve) => tests.on('exit', (code) => resolve(code ?? 1)));
if (exited) fail(`the server died during the tests (${JSON.stringify(exited)})`);

// Graceful shutdown: a stream running when SIGTERM arrives still completes.
let shutdownOk = false;
try {
  const res = await fetch(`${base}/v1/completions`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${apiKey}` },
    body: JSON.stringify({ prompt: 'The kernel', max_tokens: 48, temperature: 0, ignore_eos: true, stream: true }),
  });
  const reader = res.body.getReader();
  let text = '';
  let signalled = false;
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    text += Buffer.from(value).toString();
    if (!signalled && text.includes('data: {')) {
      signalled = true;
      server.kill('SIGTERM');
    }
  }
  shutdownOk = signalled && text.includes('"finish_reason":"length"') && text.trimEnd().endsWith('data: [DONE]');
  if (!shutdownOk) console.error(`serve e2e: the stream running at SIGTERM did not complete:\n${text.slice(-400)}`);
} catch (e) {
  console.error(`serve e2e: the stream running at SIGTERM failed: ${e}`);
}
const end = await Promise.race([exitPromise, new Promise((r) => setTimeout(() => r(null), 30_000))]);
clearTimeout(killTimer);
if (!end) {
  server.kill('SIGKILL');
  fail('the server did not exit within 30 s of SIGTERM');
}
if (end.code !== 0) fail(`the server exited with ${JSON.stringify(end)} after SIGTERM, not 0`);
console.error(`serve e2e: tests ${testCode === 0 ? 'passed' : 'FAILED'}; graceful shutdown ${shutdownOk ? 'ok' : 'FAILED'}`);
process.exit(testCode === 0 && shutdownOk ? 0 : 1);
