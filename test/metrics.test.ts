// GET /metrics: Prometheus text on a per-service registry, route templates (never raw URLs) as labels, Amazon call,
// retry, outcome, record and reconciler instruments, the bearer token, and no limits or self-measurement on it.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { Metrics, reasonLabel } from '../src/metrics.ts';
import { bearerTokenMatches } from '../src/plugins/metrics.ts';
import { type Harness, startHarness } from './support/harness.ts';

/** The value of one sample line (`name{labels} value`), or undefined when the series is absent. */
function sample(text: string, series: string): number | undefined {
  for (const line of text.split('\n')) {
    if (line.startsWith(`${series} `)) return Number(line.slice(series.length + 1));
  }
  return undefined;
}

describe('metrics over HTTP', () => {
  let h: Harness;
  let clockOffset = 0;
  beforeAll(async () => {
    h = await startHarness(
      { now: () => Date.now() + clockOffset },
      { amazonPay: { attemptTimeoutMs: 800, budgetMs: 2_500 } },
    );
  });
  afterAll(async () => {
    await h.close();
  });
  beforeEach(() => {
    h.sim.clearFaults();
  });

  async function scrape(): Promise<string> {
    const res = await h.browser().fetch('/metrics');
    expect(res.status).toBe(200);
    expect(res.headers['content-type']).toMatch(/^text\/plain; version=0\.0\.4/);
    expect(res.headers['cache-control']).toBe('no-store');
    return res.body;
  }

  it('exposes every instrument family, the process metrics included', async () => {
    const text = await scrape();
    for (const name of [
      'http_request_duration_seconds',
      'amazon_pay_requests_total',
      'amazon_pay_request_duration_seconds',
      'amazon_pay_retries_total',
      'checkout_completion_outcomes_total',
      'checkout_records',
      'checkout_oldest_open_record_age_seconds',
      'checkout_reconciler_runs_total',
      'checkout_completions_in_flight',
      'process_cpu_user_seconds_total',
      'nodejs_eventloop_lag_seconds',
    ]) {
      expect(text).toContain(`# TYPE ${name} `);
    }
    // The summary fastify-metrics always builds stays off the registry.
    expect(text).not.toContain('http_request_summary_seconds');
  });

  it('labels requests by route template, method and status class; unmatched URLs share one label', async () => {
    const browser = h.browser();
    await browser.startCheckout();
    const { checkoutSessionId } = h.sim.createSession();
    const ret = await browser.returnFromAmazon(checkoutSessionId);
    expect(ret.status).toBe(303);
    expect((await browser.fetch(ret.location!)).status).toBe(200);
    await browser.fetch(`/no/such/page/${checkoutSessionId}?amazonCheckoutSessionId=${checkoutSessionId}`);
    await browser.fetch(`/another/${checkoutSessionId}`);

    const text = await scrape();
    expect(
      sample(
        text,
        'http_request_duration_seconds_count{method="GET",route="/checkout/amazon-pay/return",status_class="3xx"}',
      ),
    ).toBeGreaterThanOrEqual(1);
    expect(
      sample(
        text,
        'http_request_duration_seconds_count{method="GET",route="/checkout/amazon-pay/result/:checkoutSessionId",status_class="2xx"}',
      ),
    ).toBeGreaterThanOrEqual(1);
    expect(
      sample(text, 'http_request_duration_seconds_count{method="GET",route="unmatched",status_class="4xx"}'),
    ).toBeGreaterThanOrEqual(2);
    expect(text).not.toContain(checkoutSessionId);
    expect(text).not.toContain('/no/such/page');
    // Scrapes do not measure themselves.
    expect(text).not.toContain('route="/metrics"');
    expect(
      sample(text, 'checkout_completion_outcomes_total{state="completed",reason="none",source="request"}'),
    ).toBe(1);
    expect(
      sample(text, 'amazon_pay_requests_total{operation="complete",outcome="success"}'),
    ).toBeGreaterThanOrEqual(1);
    expect(
      sample(text, 'amazon_pay_request_duration_seconds_count{operation="complete",outcome="success"}'),
    ).toBeGreaterThanOrEqual(1);
  });

  it('counts failures by Amazon reason code and retries by operation', async () => {
    const before = await scrape();
    const browser = h.browser();
    await browser.startCheckout();
    const declined = h.sim.createSession({ outcome: 'Declined' });
    expect((await browser.returnFromAmazon(declined.checkoutSessionId)).location).toMatch(/error=declined/);

    const retried = h.browser();
    await retried.startCheckout();
    const flaky = h.sim.createSession();
    h.sim.injectFault({ kind: 'status', status: 500, operation: 'complete', times: 2 });
    expect((await retried.returnFromAmazon(flaky.checkoutSessionId)).status).toBe(303);

    const text = await scrape();
    expect(
      sample(text, 'checkout_completion_outcomes_total{state="failed",reason="Declined",source="request"}'),
    ).toBe(1);
    const retries = (t: string) => sample(t, 'amazon_pay_retries_total{operation="complete"}') ?? 0;
    expect(retries(text) - retries(before)).toBeGreaterThanOrEqual(2);
    expect(
      sample(text, 'amazon_pay_requests_total{operation="complete",outcome="api-error"}'),
    ).toBeGreaterThanOrEqual(2);
    for (const id of [declined.checkoutSessionId, flaky.checkoutSessionId]) expect(text).not.toContain(id);
  });

  it('reads unknown records and the oldest one’s age from the store on scrape; counts reconciler runs', async () => {
    const browser = h.browser();
    await browser.startCheckout();
    const { checkoutSessionId } = h.sim.createSession();
    h.sim.injectFault({ kind: 'status', status: 503, operation: 'any', processFirst: true, times: 1_000 });
    await browser.returnFromAmazon(checkoutSessionId);
    expect((await h.service.store.get(checkoutSessionId))?.state).toBe('unknown');

    clockOffset += 90_000;
    const pending = await scrape();
    expect(sample(pending, 'checkout_records{state="unknown"}')).toBe(1);
    expect(sample(pending, 'checkout_oldest_open_record_age_seconds')).toBeGreaterThanOrEqual(90);
    expect(
      sample(pending, 'checkout_completion_outcomes_total{state="unknown",reason="none",source="request"}'),
    ).toBe(1);

    h.sim.clearFaults();
    clockOffset += 3_600_000;
    await h.service.reconciler.runOnce();
    expect((await h.service.store.get(checkoutSessionId))?.state).toBe('completed');
    // Store stats are reused for up to a second within one scrape; let that window pass.
    await new Promise((resolve) => setTimeout(resolve, 1_100));
    const settled = await scrape();
    expect(sample(settled, 'checkout_records{state="unknown"}')).toBe(0);
    expect(sample(settled, 'checkout_oldest_open_record_age_seconds')).toBe(0);
    expect(sample(settled, 'checkout_reconciler_runs_total{result="ok"}')).toBeGreaterThanOrEqual(1);
    expect(sample(settled, 'checkout_reconciler_runs_total{result="failed"}')).toBe(0);
    expect(sample(settled, 'checkout_reconciler_settled_total')).toBeGreaterThanOrEqual(1);
    expect(
      sample(
        settled,
        'checkout_completion_outcomes_total{state="completed",reason="none",source="reconciler"}',
      ),
    ).toBe(1);
  });

  it('serves a gauge another module registers on the service registry', async () => {
    let value = 0;
    h.service.metrics.registerGauge({
      name: 'test_extra_gauge',
      help: 'A gauge registered from outside the metrics module.',
      collect() {
        this.set(value);
      },
    });
    value = 2;
    expect(sample(await scrape(), 'test_extra_gauge')).toBe(2);
  });
});

describe('metrics token', () => {
  let h: Harness;
  const token = 'metrics-token-for-tests-0123456789';
  beforeAll(async () => {
    // A tight rate limit: /metrics must stay outside it.
    h = await startHarness({ metricsToken: token, rateLimitMax: 2 });
  });
  afterAll(async () => {
    await h.close();
  });

  it('answers 401 JSON without a valid bearer token', async () => {
    const browser = h.browser();
    for (const authorization of [
      undefined,
      'Bearer wrong-token',
      `Basic ${token}`,
      `Bearer ${token}x`,
      'Bearer ',
    ]) {
      const res = await browser.fetch('/metrics', { headers: authorization ? { authorization } : {} });
      expect(res.status).toBe(401);
      expect(res.headers['www-authenticate']).toMatch(/^Bearer/);
      expect(res.headers['content-type']).toMatch(/^application\/json/);
      expect(JSON.parse(res.body)).toEqual({ error: { code: 'unauthorized', message: expect.any(String) } });
      expect(res.body).not.toContain('# TYPE');
    }
  });

  it('serves the metrics with the token, without rate limit', async () => {
    const browser = h.browser();
    for (let i = 0; i < 6; i += 1) {
      const res = await browser.fetch('/metrics', { headers: { authorization: `Bearer ${token}` } });
      expect(res.status).toBe(200);
      expect(res.body).toContain('# TYPE http_request_duration_seconds histogram');
    }
    const res = await browser.fetch('/metrics', { headers: { authorization: `bearer ${token}` } });
    expect(res.status).toBe(200);
  });

  it('compares whole tokens', () => {
    expect(bearerTokenMatches(`Bearer ${token}`, token)).toBe(true);
    expect(bearerTokenMatches(`Bearer ${token.slice(0, -1)}`, token)).toBe(false);
    expect(bearerTokenMatches(undefined, token)).toBe(false);
    expect(bearerTokenMatches('Bearer ', '')).toBe(false);
  });
});

describe('the metrics module without Fastify', () => {
  it('maps reason codes to a bounded label set', () => {
    expect(reasonLabel('Declined')).toBe('Declined');
    expect(reasonLabel('BuyerCanceled')).toBe('BuyerCanceled');
    expect(reasonLabel(null)).toBe('none');
    expect(reasonLabel('Something<script>NewFromAmazon')).toBe('other');
    expect(reasonLabel('bd504926-f659-4ad7-a1a9-9a747aaf5275')).toBe('other');
  });

  it('keeps a registry per instance, so several services live in one process', async () => {
    const a = new Metrics();
    const b = new Metrics();
    a.completionObserver.outcome('failed', 'SomeNewReason', 'request');
    a.clientEvent({ operation: 'get', attempt: 1, outcome: 'timeout', durationMs: 1500, willRetry: true });
    const text = await a.text();
    expect(
      sample(text, 'checkout_completion_outcomes_total{state="failed",reason="other",source="request"}'),
    ).toBe(1);
    expect(sample(text, 'amazon_pay_retries_total{operation="get"}')).toBe(1);
    expect(sample(text, 'amazon_pay_request_duration_seconds_sum{operation="get",outcome="timeout"}')).toBe(
      1.5,
    );
    expect(await b.text()).not.toContain('reason="other"');
  });

  it('reads store stats once per scrape and survives a store that cannot answer', async () => {
    const metrics = new Metrics();
    let reads = 0;
    metrics.watchStore(async () => {
      reads += 1;
      return { pending: 3, unknown: 2, oldestOpenAgeMs: 4_500 };
    });
    const text = await metrics.text();
    expect(reads).toBe(1);
    expect(sample(text, 'checkout_records{state="pending"}')).toBe(3);
    expect(sample(text, 'checkout_records{state="unknown"}')).toBe(2);
    expect(sample(text, 'checkout_oldest_open_record_age_seconds')).toBe(4.5);

    const broken = new Metrics();
    broken.watchStore(async () => {
      throw new Error('store down');
    });
    const degraded = await broken.text();
    expect(sample(degraded, 'checkout_store_stats_errors_total')).toBe(1);
    expect(degraded).toContain('# TYPE amazon_pay_requests_total counter');
  });

  it('counts reconciler runs by result', async () => {
    const metrics = new Metrics();
    metrics.reconcilerRun({ settled: 2, failed: false });
    metrics.reconcilerRun({ settled: 0, failed: true });
    const text = await metrics.text();
    expect(sample(text, 'checkout_reconciler_runs_total{result="ok"}')).toBe(1);
    expect(sample(text, 'checkout_reconciler_runs_total{result="failed"}')).toBe(1);
    expect(sample(text, 'checkout_reconciler_settled_total')).toBe(2);
  });
});
