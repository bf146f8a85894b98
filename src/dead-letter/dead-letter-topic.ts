import type { AppConfig } from '../config/app-config';
import { KAFKA_DEFAULT_MAX_MESSAGE_BYTES, type KafkaAdapter } from '../kafka/kafka.adapter';
import type { DeadLetterLimits } from './dead-letter.publisher';

/** Room in a created topic's limit beside a value of the full cap: the key, the headers, the batch. */
const CREATED_TOPIC_HEADROOM_BYTES = 64 * 1024;

/**
 * Creates the dead-letter topic if it is missing, with the configured partitions, replication factor
 * and a `max.message.bytes` that takes a letter of the full value cap (never below Kafka's default,
 * so requests can carry many small letters); then reads the limit the topic really has, which is
 * what counts when an operator made the topic with other limits. Every instance calls this at
 * start; two creating the topic at once is fine.
 */
export async function openDeadLetterTopic(kafka: KafkaAdapter, config: AppConfig['kafka']): Promise<DeadLetterLimits> {
  await kafka.ensureTopics([
    {
      topic: config.dlqTopic,
      partitions: config.dlqPartitions,
      replicationFactor: config.dlqReplicationFactor,
      config: { 'max.message.bytes': String(Math.max(KAFKA_DEFAULT_MAX_MESSAGE_BYTES, config.dlqMaxValueBytes + CREATED_TOPIC_HEADROOM_BYTES)) },
    },
  ]);
  return { maxValueBytes: config.dlqMaxValueBytes, maxMessageBytes: await kafka.maxMessageBytes(config.dlqTopic) };
}
