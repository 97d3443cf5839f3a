// End-to-end tests of `sieve serve` with the official OpenAI Node client and
// raw HTTP. Started by run.mjs, which passes SIEVE_URL, SIEVE_API_KEY and
// SIEVE_MODEL. Loopback only; every loop is bounded.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { test } from 'node:test';
import OpenAI from 'openai';

const base = process.env.SIEVE_URL;
const apiKey = process.env.SIEVE_API_KEY;
const model = process.env.SIEVE_MODEL;
assert.ok(base && apiKey && model, 'run through run.mjs (SIEVE_URL, SIEVE_API_KEY, SIEVE_MODEL)');
const client = new OpenAI({ baseURL: `${base}/v1`, apiKey, maxRetries: 0, timeout: 60_000 });

// Prompts cut from the haystack text the project ships (documentation prose).
const haystack = readFileSync(new URL('../../data/haystack.txt', import.meta.url), 'utf8');
const prompts = [0, 1, 2, 3].map((i) => haystack.slice(20_000 + i * 9_000, 20_000 + i * 9_000 + 700));
const policies = ['full', 'streaming:sink=4,window=32', 'quest:page=16,budget=64,dense_layers=2', 'recycled:budget=64,stride=8'];

async function post(path, body, { headers = {}, raw = false } = {}) {
  const res = await fetch(`${base}${path}`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', Authorization: `Bearer ${apiKey}`, ...headers },
    body: raw ? body : JSON.stringify(body),
  });
  const text = await res.text();
  let json = null;
  try { json = JSON.parse(text); } catch { /* not JSON */ }
  return { status: res.status, headers: res.headers, text, json };
}

function assertOpenAIError(r, status, param) {
  assert.equal(r.status, status, r.text);
  assert.equal(typeof r.json?.error?.message, 'string', r.text);
  assert.ok(r.json.error.message.length > 0);
  assert.ok('type' in r.json.error && 'param' in r.json.error && 'code' in r.json.error, r.text);
  if (param !== undefined) assert.equal(r.json.error.param, param, r.text);
}

async function metrics() {
  const res = await fetch(`${base}/metrics`, { headers: { Authorization: `Bearer ${apiKey}` } });
  assert.equal(res.status, 200);
  const values = {};
  for (const line of (await res.text()).split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const at = line.lastIndexOf(' ');
    values[line.slice(0, at)] = Number(line.slice(at + 1));
  }
  return values;
}

async function streamText(params, { signal, onChunk } = {}) {
  const stream = await client.completions.create({ ...params, stream: true }, { signal });
  let text = '';
  let finish = null;
  let usage = null;
  for await (const chunk of stream) {
    if (chunk.usage) usage = chunk.usage;
    for (const c of chunk.choices) {
      text += c.text;
      if (c.finish_reason) finish = c.finish_reason;
    }
    if (onChunk && onChunk(chunk, stream) === false) break;
  }
  return { text, finish, usage };
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

test('health and models', async () => {
  assert.equal((await fetch(`${base}/health`)).status, 200);
  const list = await client.models.list();
  assert.deepEqual(list.data.map((m) => m.id), [model]);
});

test('non-streaming completion', async () => {
  const r = await client.completions.create({ model, prompt: 'The kernel', max_tokens: 12, temperature: 0 });
  assert.equal(r.object, 'text_completion');
  assert.equal(r.model, model);
  assert.equal(r.choices.length, 1);
  assert.equal(typeof r.choices[0].text, 'string');
  assert.ok(['stop', 'length'].includes(r.choices[0].finish_reason));
  assert.ok(r.usage.prompt_tokens > 0);
  assert.ok(r.usage.completion_tokens > 0 && r.usage.completion_tokens <= 12);
  assert.equal(r.usage.total_tokens, r.usage.prompt_tokens + r.usage.completion_tokens);
  assert.equal(typeof r.usage.prompt_tokens_details.cached_tokens, 'number');
});

test('streaming completion equals the non-streaming one, with usage', async () => {
  const params = { model, prompt: prompts[0], max_tokens: 16, temperature: 0, ignore_eos: true };
  const whole = await client.completions.create(params);
  const streamed = await streamText({ ...params, stream_options: { include_usage: true } });
  assert.equal(streamed.text, whole.choices[0].text);
  assert.equal(streamed.finish, 'length');
  assert.equal(streamed.usage.completion_tokens, 16);
  assert.equal(streamed.usage.prompt_tokens, whole.usage.prompt_tokens);
});

test('a repeated prompt reuses cached prefix pages', async () => {
  // Long enough for whole pages even where reuse is cut at multiples of
  // --batch-tokens (512), as the batch-invariant mode does.
  const params = { model, prompt: haystack.slice(100_000, 104_000), max_tokens: 2, temperature: 0 };
  await client.completions.create(params);
  const again = await client.completions.create(params);
  assert.ok(again.usage.prompt_tokens_details.cached_tokens > 0, JSON.stringify(again.usage));
});

test('logprobs in the completions shape', async () => {
  const r = await client.completions.create({ model, prompt: 'The kernel', max_tokens: 4, temperature: 0, logprobs: 2, ignore_eos: true });
  const lp = r.choices[0].logprobs;
  assert.equal(lp.tokens.length, 4);
  assert.equal(lp.token_logprobs.length, 4);
  assert.equal(lp.top_logprobs.length, 4);
  assert.deepEqual(lp.text_offset.slice(0, 1), [0]);
  for (let i = 0; i < 4; i++) {
    assert.ok(lp.token_logprobs[i] <= 0);
    assert.equal(Object.keys(lp.top_logprobs[i]).length <= 2, true);
  }
  // Greedy: the chosen token is the most likely one.
  const best = Math.max(...Object.values(lp.top_logprobs[0]));
  assert.ok(Math.abs(best - lp.token_logprobs[0]) < 1e-4);
});

test('stop strings end the text before them', async () => {
  const free = await client.completions.create({ model, prompt: prompts[2], max_tokens: 24, temperature: 0, ignore_eos: true });
  const text = free.choices[0].text;
  const cut = text.trim().split(/\s+/)[2];
  assert.ok(cut, `need a few words: ${JSON.stringify(text)}`);
  const stopped = await client.completions.create({ model, prompt: prompts[2], max_tokens: 24, temperature: 0, stop: [cut] });
  assert.equal(stopped.choices[0].finish_reason, 'stop');
  assert.equal(stopped.choices[0].text, text.slice(0, text.indexOf(cut)));
});

test('attn as an extra body field; a bad attn is a BadRequestError', async () => {
  const r = await client.completions.create({ model, prompt: prompts[3], max_tokens: 8, temperature: 0, attn: 'streaming:sink=4,window=32' });
  assert.equal(r.choices.length, 1);
  await assert.rejects(
    client.completions.create({ model, prompt: 'x', max_tokens: 4, attn: 'nonsense:foo=1' }),
    (e) => e instanceof OpenAI.BadRequestError && e.status === 400 && /nonsense/.test(e.message));
  await assert.rejects(
    client.completions.create({ model, prompt: 'x', max_tokens: 4, attn: 'quest:budget=-5' }),
    (e) => e instanceof OpenAI.BadRequestError);
});

test('a prefill method composed with a decode policy; files only the server was given', async () => {
  const attn = 'minference:pattern=a_shape,init=4,local=64+quest:budget=64';
  const r = await client.completions.create({ model, prompt: prompts[3], max_tokens: 8, temperature: 0, attn });
  assert.equal(r.choices.length, 1);
  await assert.rejects(
    client.completions.create({ model, prompt: 'x', max_tokens: 4, attn: 'quest+full' }),
    (e) => e instanceof OpenAI.BadRequestError && /not a prefill method/.test(e.message));
  await assert.rejects(
    client.completions.create({ model, prompt: 'x', max_tokens: 4, attn: 'minference:config=/etc/passwd' }),
    (e) => e instanceof OpenAI.BadRequestError && /--pattern-file/.test(e.message));
});

test('rope as an extra body field, with any attn; a bad rope is a BadRequestError naming it', async () => {
  const plain = await client.completions.create({ model, prompt: prompts[1], max_tokens: 8, temperature: 0 });
  const one = await client.completions.create({ model, prompt: prompts[1], max_tokens: 8, temperature: 0, rope: 'yarn:factor=1' });
  assert.equal(one.choices[0].text, plain.choices[0].text);  // factor 1 is the model's own RoPE
  const yarn = await client.completions.create({ model, prompt: prompts[1], max_tokens: 8, temperature: 0, rope: 'yarn:factor=4', attn: 'quest:budget=64' });
  assert.equal(yarn.choices.length, 1);
  await assert.rejects(
    client.completions.create({ model, prompt: 'x', max_tokens: 4, rope: 'warp:factor=2' }),
    (e) => e instanceof OpenAI.BadRequestError && e.status === 400 && e.param === 'rope' && /unknown rope extension 'warp'/.test(e.message));
});

test('a missing or wrong API key is a 401', async () => {
  const wrong = new OpenAI({ baseURL: `${base}/v1`, apiKey: 'sk-wrong', maxRetries: 0 });
  await assert.rejects(wrong.completions.create({ model, prompt: 'x', max_tokens: 2 }),
    (e) => e instanceof OpenAI.AuthenticationError && e.status === 401);
  const none = await fetch(`${base}/v1/models`);
  assert.equal(none.status, 401);
  assert.equal((await fetch(`${base}/metrics`)).status, 401);
  assert.equal((await fetch(`${base}/health`)).status, 200);  // health needs no key
});

test('tokenize and detokenize', async () => {
  const t = await post('/tokenize', { content: 'The kernel', add_special: false });
  assert.equal(t.status, 200, t.text);
  assert.ok(t.json.tokens.length > 0);
  const withBos = await post('/tokenize', { content: 'The kernel' });
  assert.equal(withBos.json.tokens.length, t.json.tokens.length + 1);
  const d = await post('/detokenize', { tokens: t.json.tokens });
  assert.equal(d.status, 200, d.text);
  assert.equal(d.json.content.trim(), 'The kernel');
  const ids = await client.completions.create({ model, prompt: withBos.json.tokens, max_tokens: 6, temperature: 0 });
  const txt = await client.completions.create({ model, prompt: 'The kernel', max_tokens: 6, temperature: 0 });
  assert.equal(ids.choices[0].text, txt.choices[0].text);
});

test('chat completions, whole and streamed, with logprobs', async () => {
  const messages = [{ role: 'system', content: 'You answer briefly.' }, { role: 'user', content: 'What does the kernel do?' }];
  const r = await client.chat.completions.create({ model, messages, max_completion_tokens: 8, temperature: 0, logprobs: true, top_logprobs: 2 });
  assert.equal(r.object, 'chat.completion');
  assert.equal(r.choices[0].message.role, 'assistant');
  assert.equal(typeof r.choices[0].message.content, 'string');
  assert.ok(['stop', 'length'].includes(r.choices[0].finish_reason));
  const content = r.choices[0].logprobs.content;
  assert.equal(content.length, r.usage.completion_tokens);
  for (const c of content) {
    assert.equal(typeof c.token, 'string');
    assert.ok(c.logprob <= 0);
    assert.ok(Array.isArray(c.bytes));
    assert.ok(c.top_logprobs.length <= 2);
  }
  // The rendered prompt is what the template makes of the messages.
  const rendered = '[system]\nYou answer briefly.\n[user]\nWhat does the kernel do?\n[assistant]\n';
  const tokens = await post('/tokenize', { content: rendered });
  assert.equal(r.usage.prompt_tokens, tokens.json.tokens.length);

  const stream = await client.chat.completions.create({ model, messages, max_completion_tokens: 8, temperature: 0, stream: true });
  let text = '';
  let role = null;
  let finish = null;
  for await (const chunk of stream) {
    const c = chunk.choices[0];
    if (!c) continue;
    assert.equal(chunk.object, 'chat.completion.chunk');
    if (c.delta.role) role = c.delta.role;
    text += c.delta.content ?? '';
    if (c.finish_reason) finish = c.finish_reason;
  }
  assert.equal(role, 'assistant');
  assert.equal(text, r.choices[0].message.content);
  assert.equal(finish, r.choices[0].finish_reason);
});

test('16 concurrent streams over four policies each equal the same request alone', async () => {
  const requests = [];
  for (const attn of policies) for (const prompt of prompts) requests.push({ model, prompt, attn, max_tokens: 16, temperature: 0, ignore_eos: true });
  const alone = [];
  for (const r of requests) alone.push((await client.completions.create(r)).choices[0].text);
  const together = await Promise.all(requests.map((r) => streamText(r)));
  for (let i = 0; i < requests.length; i++) {
    assert.equal(together[i].text, alone[i], `${requests[i].attn} on prompt ${i % 4}`);
    assert.equal(together[i].finish, 'length');
  }
  // The policies must actually read different keys here, or the test shows little.
  const differing = prompts.filter((_, p) => new Set(policies.map((_, k) => alone[k * 4 + p])).size > 1).length;
  assert.ok(differing > 0, 'every policy gave the same text on every prompt');
  const m = await metrics();
  for (const name of ['full', 'streaming', 'quest', 'recycled']) {
    assert.ok(m[`sieve:time_to_first_token_seconds_count{policy="${name}"}`] >= 4, name);
    assert.ok(m[`sieve:inter_token_latency_seconds_count{policy="${name}"}`] >= 4 * 15, name);
  }
});

test('an aborted stream stops generating and returns its pages; the other stream is unaffected', async () => {
  const long = { model, prompt: prompts[0], max_tokens: 1500, temperature: 0, ignore_eos: true };
  const other = { model, prompt: prompts[1], max_tokens: 64, temperature: 0, ignore_eos: true };
  const reference = (await client.completions.create(other)).choices[0].text;

  const controller = new AbortController();
  let chunks = 0;
  const aborted = streamText(long, {
    signal: controller.signal,
    onChunk: () => { if (++chunks === 5) controller.abort(); },
  }).catch((e) => ({ error: e }));
  const unaffected = streamText(other);
  const [abortResult, otherResult] = await Promise.all([aborted, unaffected]);
  // The client ends an aborted stream early (its iterator stops, or it throws).
  assert.ok(abortResult.error || abortResult.finish === null, JSON.stringify(abortResult));
  assert.equal(otherResult.text, reference);
  assert.equal(otherResult.finish, 'length');

  // Within a short time nothing runs, the pages are back, and generation stopped.
  let m;
  for (let i = 0; i < 50; i++) {
    m = await metrics();
    if (m['sieve:num_requests_running'] === 0 && m['sieve:kv_cache_usage_perc'] === 0) break;
    await sleep(100);
  }
  assert.equal(m['sieve:num_requests_running'], 0);
  assert.equal(m['sieve:kv_cache_usage_perc'], 0);
  const generated = m['sieve:generation_tokens_total'];
  await sleep(500);
  assert.equal((await metrics())['sieve:generation_tokens_total'], generated, 'tokens still being generated');
  assert.ok(generated < 1500, 'the aborted request ran to its end');
});

test('hostile requests get their 4xx and the server keeps serving', async () => {
  assertOpenAIError(await post('/v1/completions', '{"prompt": "x", ', { raw: true }), 400);
  assertOpenAIError(await post('/v1/completions', 'not json at all', { raw: true }), 400);
  const badUtf8 = Buffer.concat([Buffer.from('{"prompt": "'), Buffer.from([0xc3, 0x28, 0xff]), Buffer.from('", "max_tokens": 4}')]);
  assertOpenAIError(await post('/v1/completions', badUtf8, { raw: true }), 400);
  assertOpenAIError(await post('/v1/completions', { prompt: 'x', max_tokens: -5 }), 400, 'max_tokens');
  assertOpenAIError(await post('/v1/completions', { prompt: 'x', max_tokens: 1e12 }), 400, 'max_tokens');
  const tooLong = await post('/v1/completions', { prompt: Array(3000).fill(450), max_tokens: 4 });  // past the 2048 context
  assertOpenAIError(tooLong, 400, 'prompt');
  assert.equal(tooLong.json.error.code, 'context_length_exceeded');
  assertOpenAIError(await post('/v1/completions', { prompt: 'x', max_tokens: 'many' }), 400, 'max_tokens');
  assertOpenAIError(await post('/v1/completions', { prompt: 'x', temperature: 1e308 }), 400, 'temperature');
  assertOpenAIError(await post('/v1/chat/completions', { messages: 'hello' }), 400, 'messages');
  assertOpenAIError(await post('/v1/chat/completions', { messages: [{ role: 'user', content: 7 }] }), 400, 'messages[0].content');
  assertOpenAIError(await post('/v1/completions', { prompt: 'x', attn: 'warp-drive' }), 400);
  assertOpenAIError(await post('/v1/completions', { prompt: 'x', stop: Array.from({ length: 5000 }, (_, i) => `s${i}`) }), 400, 'stop');
  assertOpenAIError(await post('/v1/completions', { prompt: ['a', 'b'] }), 400, 'prompt');
  assertOpenAIError(await post('/v1/completions', { prompt: [1, 99999999] }), 400, 'prompt');
  assertOpenAIError(await post('/v1/completions', { prompt: 'x', n: 3 }), 400, 'n');
  assertOpenAIError(await post('/v1/completions', { prompt: 'x', logit_bias: { 5: 10 } }), 400, 'logit_bias');
  assertOpenAIError(await post('/v1/completions', { prompt: 'x', warp: 9 }), 400, 'warp');
  assertOpenAIError(await post('/v1/completions', { prompt: 'x', model: 'gpt-7' }), 404, 'model');
  assertOpenAIError(await post('/v1/nothing', { prompt: 'x' }), 404);
  const get = await fetch(`${base}/v1/completions`, { headers: { Authorization: `Bearer ${apiKey}` } });
  assert.equal(get.status, 405);
  assert.equal(get.headers.get('allow'), 'POST');

  // 100 MB body: refused by size (413), the connection may close early.
  let status = null;
  try {
    status = (await post('/v1/completions', Buffer.alloc(100 << 20, 0x20), { raw: true })).status;
  } catch (e) {
    status = `connection error: ${e.cause?.code ?? e}`;
  }
  assert.equal(status, 413);

  // Slow loris: headers one byte at a time, a second apart; the server answers
  // 408 and closes after --request-timeout (3 s), serving others meanwhile.
  const lorisDone = new Promise((resolve) => {
    const sock = net.connect(Number(new URL(base).port), '127.0.0.1');
    const started = Date.now();
    const header = `POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ${'a'.repeat(60)}`;
    let i = 0;
    let reply = '';
    const timer = setInterval(() => {
      if (i < header.length && !sock.destroyed) sock.write(header[i++]);
    }, 1000);
    sock.on('data', (d) => { reply += d.toString(); });
    const done = () => { clearInterval(timer); resolve({ seconds: (Date.now() - started) / 1000, reply }); };
    sock.on('close', done);
    sock.on('error', () => {});
    setTimeout(() => sock.destroy(), 20_000);
  });
  const during = await client.completions.create({ model, prompt: 'The kernel', max_tokens: 4, temperature: 0 });
  assert.ok(during.usage.completion_tokens > 0);
  const loris = await lorisDone;
  assert.ok(loris.seconds < 15, `the slow client was held for ${loris.seconds} s`);
  assert.match(loris.reply, /^HTTP\/1\.1 408 /);
  assert.match(loris.reply, /"error":\{"message":/);

  const r = await client.completions.create({ model, prompt: 'The kernel', max_tokens: 4, temperature: 0 });
  assert.ok(r.usage.completion_tokens > 0);
});

test('metrics in Prometheus format', async () => {
  const res = await fetch(`${base}/metrics`, { headers: { Authorization: `Bearer ${apiKey}` } });
  const text = await res.text();
  for (const name of ['sieve:num_requests_running', 'sieve:num_requests_waiting', 'sieve:kv_cache_usage_perc',
    'sieve:prompt_tokens_total', 'sieve:generation_tokens_total', 'sieve:prefix_cache_hits_total', 'sieve:num_preemptions_total',
    'sieve:request_success_total', 'sieve:time_to_first_token_seconds', 'sieve:inter_token_latency_seconds',
    'sieve:e2e_request_latency_seconds', 'sieve:request_queue_time_seconds']) {
    assert.match(text, new RegExp(`^# TYPE ${name} `, 'm'), name);
  }
  const m = await metrics();
  assert.ok(m['sieve:prefix_cache_hits_total'] > 0);
  assert.ok(m['sieve:generation_tokens_total'] > 0);
});
