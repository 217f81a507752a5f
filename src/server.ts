// Process entry: load the configuration, wire the service (and the simulator when no Amazon key is set),
// listen, and shut down gracefully on SIGTERM/SIGINT (readiness 503, drain, commit, close, exit 0).
import closeWithGrace from 'close-with-grace';
import { createService } from './compose.ts';
import { type Config, ConfigError, formatConfigError, loadConfig } from './config.ts';
import { createLogger } from './logger.ts';

function failpointFromEnv(config: Config) {
  // Test builds only: crash tests kill the process at a named point of a completion.
  const name = process.env.CHECKOUT_FAILPOINT;
  if (!name || config.nodeEnv !== 'test') return undefined;
  return (point: string) => {
    if (point === name) process.kill(process.pid, 'SIGKILL');
  };
}

function testLeaseMsFromEnv(config: Config): number | undefined {
  // Test builds only: crash tests shorten the lease so a record orphaned by a kill is picked up within seconds.
  // Production keeps the derived default (longer than a whole drive); drives stop before their lease ends anyway.
  const value = Number(process.env.CHECKOUT_LEASE_MS);
  if (config.nodeEnv !== 'test' || !Number.isInteger(value) || value < 1_000) return undefined;
  return value;
}

async function main(): Promise<void> {
  let config: Config;
  try {
    config = loadConfig(process.env);
  } catch (err) {
    process.stderr.write(`${formatConfigError(err)}\n`);
    process.exit(err instanceof ConfigError ? 78 : 1);
  }
  const logger = createLogger(config.logLevel);
  for (const warning of config.warnings) logger.warn({ warning }, 'configuration warning');

  const failpoint = failpointFromEnv(config);
  const leaseMs = testLeaseMsFromEnv(config);
  const service = await createService({
    logger,
    databaseUrl: config.databaseUrl,
    databasePoolMax: config.databasePoolMax,
    sqliteSynchronous: config.sqliteSynchronous,
    amazonPay: {
      publicKeyId: config.publicKeyId,
      privateKey: config.privateKey,
      publicKey: config.publicKey,
      region: config.region,
      sandbox: config.sandbox,
      algorithm: config.algorithm,
      apiBaseUrl: config.apiBaseUrl,
      merchantId: config.merchantId,
      storeId: config.storeId,
      attemptTimeoutMs: config.amazonPayTimeoutMs,
      budgetMs: config.amazonPayBudgetMs,
      maxConcurrentCalls: config.amazonPayMaxConcurrentCalls,
    },
    simulator: config.simulator
      ? { host: config.host, port: config.simulatorPort, latencyMs: config.simulatorLatencyMs }
      : undefined,
    publicBaseUrl: config.publicBaseUrl,
    checkoutStartUrl: config.checkoutStartUrl,
    cookieSecret: config.cookieSecret,
    rateLimitMax: config.rateLimitMax,
    trustProxy: config.trustProxy,
    metricsToken: config.metricsToken,
    redisUrl: config.redisUrl,
    returnWaitMs: config.returnWaitMs,
    reconcileIntervalMs: config.reconcileIntervalMs,
    piiRetentionDays: config.piiRetentionDays,
    ...(failpoint ? { failpoint } : {}),
    ...(leaseMs ? { leaseMs } : {}),
  });

  // close-with-grace exits 0 once the drain finished, 1 when it outlives SHUTDOWN_DRAIN_MS, and 1 at once on a
  // second signal (an operator's "now"): records left pending then are the reconciler's after the restart.
  closeWithGrace({ delay: config.shutdownDrainMs, logger }, async ({ signal, err }) => {
    if (err) logger.error({ err }, 'shutting down after an error');
    logger.info(
      { signal, inflight: service.completion.inflightCount, drainMs: config.shutdownDrainMs },
      'draining: readiness is 503, new requests are refused, completions in flight finish and commit',
    );
    service.markDraining();
    // Shortly before the deadline, cut Amazon calls short so every drive still commits (as `unknown` when
    // undecided) instead of being killed mid-way; the reconciler settles those after the restart.
    const margin = Math.min(5_000, Math.floor(config.shutdownDrainMs / 5));
    const abortTimer = setTimeout(() => service.completion.abortDrives(), config.shutdownDrainMs - margin);
    abortTimer.unref();
    await service.close();
    clearTimeout(abortTimer);
    logger.info('shutdown complete');
  });

  const address = await service.app.listen({ port: config.port, host: config.host });
  const startUrl = new URL(config.checkoutStartUrl, config.publicBaseUrl).href;
  if (service.simulator) {
    logger.info(
      { address, simulator: service.simulator.url, open: startUrl },
      `Payments are SIMULATED by the built-in Amazon Pay simulator (${service.simulator.url}); no real Amazon Pay is called. Open ${startUrl} in a browser.`,
    );
  } else {
    logger.info(
      { address, region: config.region, sandbox: config.sandbox, publicKeyId: config.publicKeyId },
      `Amazon Pay ${config.sandbox ? 'SANDBOX' : 'LIVE'} (${config.region}); listening on ${address}`,
    );
  }
}

await main();
