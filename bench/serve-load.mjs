#!/usr/bin/env node
// Load generator for OpenAI-compatible /v1/completions servers (sieve serve,
// llama.cpp's llama-server, vLLM): N requests at a fixed concurrency, each a
// prompt of exactly --input-len tokens cut from the haystack text and
// --output-len generated tokens (ignore_eos, greedy), streamed. Reports what
// `vllm bench serve` reports: completed and failed requests, request and
// token throughput, TTFT, TPOT and ITL (mean, median, p99).
//
// usage: node bench/serve-load.mjs --url http://127.0.0.1:8080 --concurrency 16 --input-len 512 [options]
// Node.js 20+, no packages. See bench/README.md.
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = dirname(dirname(fileURLToPath(import.meta.url)));
const defaults = {
  url: 'http://127.0.0.1:8080', model: '', 'api-key': '', concurrency: 1, 'num-prompts': 0, 'input-len': 512,
  'output-len': 128, attn: [], haystack: join(root, 'data', 'haystack.txt'), 'same-prompt': false, json: '',
  label: '', timeout: 600,
};
const help = `usage: node bench/serve-load.mjs [options]
  --url URL            server base URL (default ${defaults.url})
  --model NAME         "model" field (default: the first of GET /v1/models)
  --api-key KEY        sent as Authorization: Bearer KEY
  --concurrency N      requests in flight at once (default 1)
  --num-prompts N      requests in all (default 4 x concurrency, at least 8)
  --input-len N        prompt tokens per request (default 512), exact: cut with the server's /tokenize
  --output-len N       generated tokens per request (default 128; ignore_eos keeps it exact)
  --attn SPEC          sieve's per-request attention policy (sent as "attn"; other servers refuse it);
                       repeat it for a mixed run: request i gets the (i mod count)-th, and the
                       report adds per-policy numbers, the client's and those of sieve's /metrics
  --same-prompt        every request sends the same prompt (prefix-cache runs); default: distinct prompts
  --haystack FILE      text the prompts are cut from (default data/haystack.txt)
  --label TEXT         name of the run in the output (default: the URL)
  --json FILE          also write the results as JSON to FILE ("-": stdout, instead of the table)
  --timeout S          seconds one request may take (default 600)`;

function parseArgs(argv) {
  const o = { ...defaults };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '-h' || a === '--help') { console.log(help); process.exit(0); }
    if (!a.startsWith('--') || !(a.slice(2) in defaults)) throw new Error(`unknown option ${a} (see --help)`);
    const key = a.slice(2);
    if (typeof defaults[key] === 'boolean') { o[key] = true; continue; }
    if (i + 1 >= argv.length) throw new Error(`${a} needs a value`);
    const v = argv[++i];
    if (Array.isArray(defaults[key])) {
      o[key] = [...o[key], v];
    } else if (typeof defaults[key] === 'number') {
      const n = Number(v);
      if (!Number.isInteger(n) || n < (key === 'num-prompts' ? 0 : 1)) throw new Error(`${a} must be a positive integer, not '${v}'`);
      o[key] = n;
    } else {
      o[key] = v;
    }
  }
  if (!o['num-prompts']) o['num-prompts'] = Math.max(8, 4 * o.concurrency);
  if (!o.label) o.label = o.url;
  return o;
}

const opts = (() => {
  try { return parseArgs(process.argv.slice(2)); } catch (e) { console.error(`serve-load: ${e.message}`); process.exit(2); }
})();
const headers = { 'Content-Type': 'application/json', ...(opts['api-key'] ? { Authorization: `Bearer ${opts['api-key']}` } : {}) };

async function getJson(path, body) {
  const res = await fetch(`${opts.url}${path}`, body === undefined ? { headers } : { method: 'POST', headers, body: JSON.stringify(body) });
  const text = await res.text();
  if (!res.ok) throw new Error(`${path}: HTTP ${res.status}: ${text.slice(0, 300)}`);
  return JSON.parse(text);
}

// Prompts of exactly input-len tokens: a slice of the haystack, tokenized by
// the server, cut to length, sent as token ids (both sieve and llama-server
// take an array of ids as the prompt).
async function makePrompts() {
  const text = readFileSync(opts.haystack, 'utf8');
  const n = opts['same-prompt'] ? 1 : opts['num-prompts'];
  const chars = opts['input-len'] * 8;  // comfortably more text than the tokens needed
  const prompts = [];
  for (let i = 0; i < n; i++) {
    const start = (i * 7919 * 64) % Math.max(1, text.length - chars);
    const r = await getJson('/tokenize', { content: text.slice(start, start + chars), add_special: false });
    const ids = r.tokens.map((t) => (typeof t === 'number' ? t : t.id));
    if (ids.length < opts['input-len']) throw new Error(`the haystack slice gave only ${ids.length} tokens`);
    prompts.push(ids.slice(0, opts['input-len']));
  }
  return prompts;
}

// One streamed request. With fetch, whose kept-alive connections llama-server
// serves reliably (node:http's fresh or reused connections it sometimes
// resets before answering).
async function oneRequest(model, prompt, attn) {
  const body = {
    model, prompt, max_tokens: opts['output-len'], temperature: 0, ignore_eos: true, stream: true,
    stream_options: { include_usage: true }, ...(attn ? { attn } : {}),
  };
  const r = { ok: false, attn, ttft: 0, itl: [], e2e: 0, outputTokens: 0, cachedTokens: 0, error: '' };
  const start = performance.now();
  try {
    const res = await fetch(`${opts.url}/v1/completions`, {
      method: 'POST', headers, body: JSON.stringify(body), signal: AbortSignal.timeout(opts.timeout * 1000),
    });
    if (!res.ok) throw new Error(`HTTP ${res.status}: ${(await res.text()).slice(0, 200)}`);
    const decoder = new TextDecoder();
    let buffer = '';
    let last = 0;
    let chunks = 0;
    let usageTokens = 0;
    let done = false;
    for await (const bytes of res.body) {
      buffer += decoder.decode(bytes, { stream: true });
      let at;
      while ((at = buffer.indexOf('\n\n')) >= 0) {
        const event = buffer.slice(0, at);
        buffer = buffer.slice(at + 2);
        for (const line of event.split('\n')) {
          if (!line.startsWith('data:')) continue;
          const data = line.slice(5).trim();
          if (data === '[DONE]') { done = true; continue; }
          const j = JSON.parse(data);
          if (j.error) throw new Error(j.error.message ?? JSON.stringify(j.error));
          if (j.usage?.completion_tokens) usageTokens = j.usage.completion_tokens;
          if (j.usage?.prompt_tokens_details?.cached_tokens) r.cachedTokens = j.usage.prompt_tokens_details.cached_tokens;
          if (!j.choices?.some((c) => c.text)) continue;
          const now = performance.now();
          if (chunks === 0) r.ttft = now - start;
          else r.itl.push(now - last);
          last = now;
          chunks++;
        }
      }
    }
    if (!done) throw new Error('the stream ended without [DONE]');
    r.e2e = performance.now() - start;
    r.outputTokens = usageTokens || chunks;
    r.ok = chunks > 0;
    if (!r.ok) r.error = 'no tokens';
  } catch (e) {
    // fetch reports network errors as "fetch failed" with the reason in its cause.
    r.error = String(e.message ?? e) + (e.cause ? `: ${e.cause.code ?? e.cause.message ?? e.cause}` : "");
  }
  return r;
}

function stats(values) {
  if (!values.length) return { mean: 0, median: 0, p99: 0 };
  const s = [...values].sort((a, b) => a - b);
  const q = (p) => {
    const x = (s.length - 1) * p;
    const lo = Math.floor(x);
    return s[lo] + (s[Math.min(lo + 1, s.length - 1)] - s[lo]) * (x - lo);
  };
  return { mean: s.reduce((a, b) => a + b, 0) / s.length, median: q(0.5), p99: q(0.99) };
}

// sieve's latency histograms per policy (sum and count), to report a mixed
// run's per-policy numbers as the server measured them; {} elsewhere.
async function serverLatency() {
  try {
    const res = await fetch(`${opts.url}/metrics`, { headers });
    if (!res.ok) return {};
    const out = {};
    for (const line of (await res.text()).split('\n')) {
      const m = line.match(/^sieve:(time_to_first_token|inter_token_latency)_seconds_(sum|count)\{policy="([^"]*)"\} (\S+)$/);
      if (!m) continue;
      const [, metric, part, policy, value] = m;
      ((out[policy] ??= {})[metric] ??= {})[part] = Number(value);
    }
    return out;
  } catch {
    return {};
  }
}

// sieve's gauges, sampled while the load runs: how many requests ran at once
// and how many KV pages they held (what a pool of a given --kv-memory holds).
const occupancy = { samples: 0, running_sum: 0, running_peak: 0, pages_peak: 0, pages_total: 0 };
let preemptionsBefore = null;
async function sieveGauges() {
  try {
    const res = await fetch(`${opts.url}/metrics`, { headers });
    if (!res.ok) return null;
    const g = {};
    for (const line of (await res.text()).split('\n')) {
      const m = line.match(/^sieve:(num_requests_running|kv_cache_pages_used|kv_cache_pages_total|num_preemptions_total) (\S+)$/);
      if (m) g[m[1]] = Number(m[2]);
    }
    return 'num_requests_running' in g ? g : null;
  } catch {
    return null;
  }
}
async function sampleOccupancy(stop) {
  while (!stop.done) {
    const g = await sieveGauges();
    if (!g) return;
    occupancy.samples++;
    occupancy.running_sum += g.num_requests_running;
    occupancy.running_peak = Math.max(occupancy.running_peak, g.num_requests_running);
    occupancy.pages_peak = Math.max(occupancy.pages_peak, g.kv_cache_pages_used);
    occupancy.pages_total = g.kv_cache_pages_total;
    await new Promise((r) => setTimeout(r, 100));
  }
}

const model = opts.model || (await getJson('/v1/models')).data[0].id;
const prompts = await makePrompts();
const policies = opts.attn.length ? opts.attn : [''];
const metricsBefore = await serverLatency();
preemptionsBefore = (await sieveGauges())?.num_preemptions_total ?? null;
const sampling = { done: false };
const sampler = sampleOccupancy(sampling);
const results = [];
let next = 0;
const t0 = performance.now();
await Promise.all(Array.from({ length: opts.concurrency }, async () => {
  while (next < opts['num-prompts']) {
    const i = next++;
    const r = await oneRequest(model, prompts[i % prompts.length], policies[i % policies.length]);
    r.index = i;
    results.push(r);
  }
}));
const duration = (performance.now() - t0) / 1000;
sampling.done = true;
await sampler;
const metricsAfter = await serverLatency();
const preemptionsAfter = (await sieveGauges())?.num_preemptions_total ?? null;
results.sort((a, b) => a.index - b.index);

// The client's numbers for a set of results.
function measure(rs) {
  const ok = rs.filter((r) => r.ok);
  const outputTokens = ok.reduce((a, r) => a + r.outputTokens, 0);
  const tpot = ok.filter((r) => r.outputTokens > 1).map((r) => (r.e2e - r.ttft) / (r.outputTokens - 1));
  return {
    completed: ok.length, failed: rs.length - ok.length,
    request_throughput: ok.length / duration, output_throughput: outputTokens / duration,
    total_token_throughput: (outputTokens + ok.length * opts['input-len']) / duration,
    total_output_tokens: outputTokens,
    ttft_ms: stats(ok.map((r) => r.ttft)), tpot_ms: stats(tpot), itl_ms: stats(ok.flatMap((r) => r.itl)),
    e2e_ms: stats(ok.map((r) => r.e2e)),
  };
}

const summary = {
  label: opts.label, url: opts.url, model, attn: opts.attn.length ? opts.attn : null, concurrency: opts.concurrency,
  input_len: opts['input-len'], output_len: opts['output-len'], same_prompt: opts['same-prompt'],
  duration_s: duration, ...measure(results),
  // In the order sent: what a prefix-cache run compares (the first request against the next).
  requests: results.map((r) => ({ attn: r.attn || null, ok: r.ok, ttft_ms: r.ttft, e2e_ms: r.e2e, cached_tokens: r.cachedTokens })),
  errors: [...new Set(results.filter((r) => !r.ok).map((r) => r.error))].slice(0, 5),
  // sieve only: its /metrics gauges sampled every 100 ms during the run.
  occupancy: occupancy.samples ? {
    running_peak: occupancy.running_peak, running_mean: occupancy.running_sum / occupancy.samples,
    kv_pages_peak: occupancy.pages_peak, kv_pages_total: occupancy.pages_total,
    preemptions: preemptionsBefore === null || preemptionsAfter === null ? null : preemptionsAfter - preemptionsBefore,
  } : null,
};
const outputTokens = summary.total_output_tokens;
if (opts.attn.length > 1) {
  summary.per_policy = Object.fromEntries(opts.attn.map((a) => {
    const name = a.split(':')[0];
    const before = metricsBefore[name] ?? {}, after = metricsAfter[name] ?? {};
    const mean = (metric) => {
      const n = (after[metric]?.count ?? 0) - (before[metric]?.count ?? 0);
      return n > 0 ? (1000 * ((after[metric]?.sum ?? 0) - (before[metric]?.sum ?? 0))) / n : null;
    };
    return [a, { client: measure(results.filter((r) => r.attn === a)),
      server: { ttft_mean_ms: mean('time_to_first_token'), itl_mean_ms: mean('inter_token_latency') } }];
  }));
}

const f = (x) => (x === null || x === undefined ? '-' : x.toFixed(2));
const table = [
  `============ Serving Benchmark Result: ${summary.label} ============`,
  `Model:                                   ${model}${opts.attn.length ? ` (attn ${opts.attn.join(' | ')})` : ''}`,
  `Concurrency:                             ${opts.concurrency}`,
  `Input / output tokens per request:       ${opts['input-len']} / ${opts['output-len']}${opts['same-prompt'] ? ' (same prompt)' : ''}`,
  `Successful requests:                     ${summary.completed}`,
  `Failed requests:                         ${summary.failed}`,
  `Benchmark duration (s):                  ${f(duration)}`,
  `Total generated tokens:                  ${outputTokens}`,
  `Request throughput (req/s):              ${f(summary.request_throughput)}`,
  `Output token throughput (tok/s):         ${f(summary.output_throughput)}`,
  `Total token throughput (tok/s):          ${f(summary.total_token_throughput)}`,
  ...[['Time to First Token', 'TTFT', summary.ttft_ms], ['Time per Output Token (excl. 1st token)', 'TPOT', summary.tpot_ms],
    ['Inter-token Latency', 'ITL', summary.itl_ms]].flatMap(([title, short, s]) => [
    `---------------${title}---------------`,
    `Mean ${short} (ms):`.padEnd(41) + f(s.mean), `Median ${short} (ms):`.padEnd(41) + f(s.median), `P99 ${short} (ms):`.padEnd(41) + f(s.p99)]),
  ...(summary.occupancy ? [
    '---------------Server occupancy (sieve /metrics, sampled every 100 ms)---------------',
    `Requests running at once (peak / mean):  ${summary.occupancy.running_peak} / ${f(summary.occupancy.running_mean)}`,
    `KV pages held (peak / pool):             ${summary.occupancy.kv_pages_peak} / ${summary.occupancy.kv_pages_total}`,
    `Preemptions:                             ${summary.occupancy.preemptions ?? '-'}`,
  ] : []),
  ...(summary.per_policy ? [
    '---------------Per policy (client: median; server /metrics: mean)---------------',
    '| policy | requests | TTFT median | ITL median | server TTFT mean | server ITL mean |',
    '| --- | ---: | ---: | ---: | ---: | ---: |',
    ...Object.entries(summary.per_policy).map(([a, p]) =>
      `| ${a} | ${p.client.completed} | ${f(p.client.ttft_ms.median)} | ${f(p.client.itl_ms.median)} | ${f(p.server.ttft_mean_ms)} | ${f(p.server.itl_mean_ms)} |`),
  ] : []),
  ...summary.errors.map((e) => `error: ${e}`),
  '='.repeat(60),
].join('\n');

if (opts.json === '-') {
  console.log(JSON.stringify(summary, null, 2));
} else {
  console.log(table);
  if (opts.json) writeFileSync(opts.json, JSON.stringify(summary, null, 2) + '\n');
}
process.exit(summary.failed ? 1 : 0);
