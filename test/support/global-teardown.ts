/** Drops the run's database and stops containers it started; the local broker is left running. */
export default async function globalTeardown(): Promise<void> {
  const infra = globalThis.__CAAC_SYNC_INFRA__;
  if (!infra) return;
  globalThis.__CAAC_SYNC_INFRA__ = undefined;
  for (const stop of infra.stop) await stop();
}
