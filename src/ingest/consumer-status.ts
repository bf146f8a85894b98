import type { ConsumeLoopState, PartitionState } from '../kafka/batch-consumer';

/** What health reads of the ingest consumer: ChangeConsumer provides it, the probes at the top read it. */
export interface ConsumerStatus {
  joined(): boolean;
  details(): Record<string, unknown>;
  partitionStates(): PartitionState[];
  loopState(): ConsumeLoopState;
}
export const CONSUMER_STATUS = Symbol('ConsumerStatus');
