import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/**
 * Where the service's main thread spends its time, by ingest stage, from a V8 CPU profile
 * (`node --cpu-prof`). Each sample goes to the innermost frame on its stack that belongs to a
 * stage (a JSON.parse inside the decoder is decoding; a socket write under the Postgres driver is
 * staging SQL), else to `runtime` (Node's and Nest's own work, start-up). The profiler samples the
 * thread on the wall clock: on a busy machine a thread waiting for a core is counted where it
 * stopped, so the shares are of the thread's time, and CPU seconds come from /proc.
 */
export type Stage =
  | 'kafka_client'
  | 'decode'
  | 'map_and_validate'
  | 'coalesce'
  | 'staging_sql_client'
  | 'garbage_collector'
  | 'runtime'
  | 'idle';

export const STAGES: readonly Stage[] = ['kafka_client', 'decode', 'map_and_validate', 'coalesce', 'staging_sql_client', 'garbage_collector', 'runtime', 'idle'];

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string };
  children?: number[];
}

interface CpuProfile {
  nodes: ProfileNode[];
  samples: number[];
  timeDeltas: number[];
}

/** Decoding bytes into JSON values: UTF-8, the parsers, the converter layout, Avro. */
const DECODE_FUNCTIONS = new Set(['readWithLastSchema', 'readConverterLayout', 'readDocument', 'readEnvelope', 'readPayload', 'exactTextReader']);

function stageOf(frame: ProfileNode['callFrame']): Stage | undefined {
  const { url, functionName } = frame;
  if (functionName === '(garbage collector)') return 'garbage_collector';
  if (functionName === '(idle)') return 'idle';
  if (url.includes('/node_modules/kafkajs/') || url.includes('/dist/kafka/')) return 'kafka_client';
  if (/\/node_modules\/(pg|pg-protocol|pg-types|typeorm)\//.test(url)) return 'staging_sql_client';
  if (/\/dist\/(store|ingest\/consumer-offset)/.test(url)) return 'staging_sql_client';
  if (/\/dist\/ingest\/decoders\/(json-message|connect-json|avro-connect|registry-framed)/.test(url)) return 'decode';
  if (url.includes('/node_modules/lossless-json/') || url.includes('/node_modules/avsc/')) return 'decode';
  if (url.includes('/dist/ingest/decoders/')) return DECODE_FUNCTIONS.has(functionName) ? 'decode' : 'map_and_validate';
  if (url.includes('/dist/profile/patch-merge') || url.includes('/dist/ingest/batch-coalescer')) return 'coalesce';
  if (url.includes('/dist/profile/') || url.includes('/node_modules/libphonenumber-js/') || url.includes('/node_modules/ajv')) return 'map_and_validate';
  return undefined;
}

/** Milliseconds of the profile per stage. */
export function stageBreakdown(profile: CpuProfile): Record<Stage, number> {
  const byId = new Map(profile.nodes.map((node) => [node.id, node]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id);
  const stageOfNode = new Map<number, Stage>();
  const resolve = (id: number): Stage => {
    const known = stageOfNode.get(id);
    if (known !== undefined) return known;
    const node = byId.get(id)!;
    const up = parent.get(id);
    const stage = stageOf(node.callFrame) ?? (up === undefined ? 'runtime' : resolve(up));
    stageOfNode.set(id, stage);
    return stage;
  };
  const totals = Object.fromEntries(STAGES.map((stage) => [stage, 0])) as Record<Stage, number>;
  profile.samples.forEach((id, i) => {
    totals[resolve(id)] += (profile.timeDeltas[i] ?? 0) / 1000;
  });
  return totals;
}

/** The breakdown of the one profile `node --cpu-prof --cpu-prof-dir=<dir>` wrote. */
export function stageBreakdownOfDirectory(dir: string): Record<Stage, number> | undefined {
  const file = readdirSync(dir).find((name) => name.endsWith('.cpuprofile'));
  return file === undefined ? undefined : stageBreakdown(JSON.parse(readFileSync(join(dir, file), 'utf8')) as CpuProfile);
}

/** A service run under the CPU profiler (BENCH_PROFILE=1): the node flags to start it with, and its breakdown once it has exited. */
export interface ProfiledRun {
  nodeArgs: string[];
  /** µs of the main thread an event by stage, over the whole run; undefined when the process wrote no profile. */
  stagesPerEvent(events: number): Record<Stage, number> | undefined;
}

export function profiledRun(): ProfiledRun {
  const dir = mkdtempSync(join(tmpdir(), 'bench-profile-'));
  return {
    nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${dir}`],
    stagesPerEvent(events) {
      const stages = stageBreakdownOfDirectory(dir);
      rmSync(dir, { recursive: true, force: true });
      if (stages === undefined) return undefined;
      return Object.fromEntries(Object.entries(stages).map(([stage, ms]) => [stage, Number(((ms * 1000) / events).toFixed(1))])) as Record<Stage, number>;
    },
  };
}
