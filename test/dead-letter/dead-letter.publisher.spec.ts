import { createHash } from 'node:crypto';
import { RecordRejectedError } from '../../src/common/failure-kind';
import { DEAD_LETTER_HEADER, type DeadLetter } from '../../src/dead-letter/dead-letter';
import { DeadLetterPublisher } from '../../src/dead-letter/dead-letter.publisher';
import type { MessageProducer, OutgoingMessage } from '../../src/kafka/kafka.adapter';

const TOPIC = 'caac-sync.dlq';
const KAFKA_DEFAULT_MAX_MESSAGE_BYTES = 1_048_588;

function aDeadLetter(overrides: Partial<DeadLetter> = {}): DeadLetter {
  return {
    stage: 'validate',
    key: null,
    value: Buffer.from('{"event_id":"not-an-id"}'),
    errorClass: 'SchemaViolation',
    message: 'event_id: must be a ULID or a UUID',
    topic: 'crm.profile-changes',
    partition: 0,
    offset: '42',
    at: Date.parse('2026-12-01T10:00:00.000Z'),
    ...overrides,
  };
}

/**
 * A producer that records every request and, like a broker, refuses one whose bytes exceed
 * `maxRequestBytes` (the sum of keys, values and headers; a stand-in for the record batch size).
 */
function aProducer(options: { maxRequestBytes?: number; failWith?: Error } = {}) {
  const requests: OutgoingMessage[][] = [];
  const producer: MessageProducer = {
    send: async (topic, messages) => {
      expect(topic).toBe(TOPIC);
      if (options.failWith) throw options.failWith;
      const bytes = messages.reduce((sum, m) => sum + size(m.key) + size(m.value) + Object.entries(m.headers ?? {}).join('').length, 0);
      if (bytes > (options.maxRequestBytes ?? Infinity)) throw new RecordRejectedError('MESSAGE_TOO_LARGE', 'the broker refused the record(s): MESSAGE_TOO_LARGE');
      requests.push(messages);
    },
    disconnect: async () => undefined,
  };
  return { producer, requests, sent: () => requests.flat() };
}

const size = (data: Buffer | string | null) => (data === null ? 0 : Buffer.byteLength(data));

describe(DeadLetterPublisher.name, () => {
  it('sends 5,000 letters in requests that each stay under the topic limit, every letter once and in order', async () => {
    const { producer, requests, sent } = aProducer({ maxRequestBytes: KAFKA_DEFAULT_MAX_MESSAGE_BYTES });
    const sut = new DeadLetterPublisher(producer, TOPIC, { maxValueBytes: 262_144, maxMessageBytes: KAFKA_DEFAULT_MAX_MESSAGE_BYTES });
    const letters = Array.from({ length: 5_000 }, (_, i) => aDeadLetter({ offset: String(i), value: Buffer.from(`{"event_id":"bad-${i}","padding":"${'x'.repeat(300)}"}`) }));

    await expect(sut.publish(letters)).resolves.toBeUndefined();

    expect(requests.length).toBeGreaterThan(1);
    expect(requests.every((request) => request.length <= 500)).toBe(true);
    expect(sent().map((m) => m.headers![DEAD_LETTER_HEADER.offset])).toEqual(letters.map((l) => l.offset));
    expect(sent().map((m) => m.value)).toEqual(letters.map((l) => l.value));
  });

  it('cuts a value over the cap, with headers giving the original size and SHA-256', async () => {
    const { producer, sent } = aProducer();
    const sut = new DeadLetterPublisher(producer, TOPIC, { maxValueBytes: 4_096, maxMessageBytes: KAFKA_DEFAULT_MAX_MESSAGE_BYTES });
    const original = Buffer.alloc(2_000_000, 'a');

    await sut.publish([aDeadLetter({ value: original, errorClass: 'MessageTooLarge' })]);

    expect(sent()).toHaveLength(1);
    expect(sent()[0]!.value).toEqual(original.subarray(0, 4_096));
    expect(sent()[0]!.headers).toMatchObject({
      [DEAD_LETTER_HEADER.errorClass]: 'MessageTooLarge',
      [DEAD_LETTER_HEADER.offset]: '42',
      [DEAD_LETTER_HEADER.valueTruncated]: 'true',
      [DEAD_LETTER_HEADER.valueOriginalBytes]: '2000000',
      [DEAD_LETTER_HEADER.valueSha256]: createHash('sha256').update(original).digest('hex'),
    });
  });

  it('cuts further when the topic takes less than the cap beside the key and headers', async () => {
    const { producer, sent } = aProducer();
    const maxMessageBytes = 64 * 1024; // an operator's small topic
    const sut = new DeadLetterPublisher(producer, TOPIC, { maxValueBytes: 262_144, maxMessageBytes });

    await sut.publish([aDeadLetter({ key: 'C-1001', value: Buffer.alloc(100_000, 'b') })]);

    const [letter] = sent();
    const letterBytes = size(letter!.key) + size(letter!.value) + Object.entries(letter!.headers!).join('').length;
    expect(letterBytes).toBeLessThan(maxMessageBytes);
    expect(letter!.value!.length).toBeGreaterThan(maxMessageBytes / 2); // cut to fit, not to nothing
    expect(letter!.headers![DEAD_LETTER_HEADER.valueOriginalBytes]).toBe('100000');
  });

  it('leaves a value under the cap whole, without cut headers', async () => {
    const { producer, sent } = aProducer();
    const sut = new DeadLetterPublisher(producer, TOPIC, { maxValueBytes: 4_096, maxMessageBytes: KAFKA_DEFAULT_MAX_MESSAGE_BYTES });

    await sut.publish([aDeadLetter({ value: Buffer.alloc(4_096, 'c') })]);

    expect(sent()[0]!.value).toEqual(Buffer.alloc(4_096, 'c'));
    expect(sent()[0]!.headers).not.toHaveProperty([DEAD_LETTER_HEADER.valueTruncated]);
  });

  it('splits a request the broker refuses as too large, and sends a letter it still refuses as a stub', async () => {
    // The broker takes far less than the service was told (the topic's limit lowered since start).
    const { producer, sent } = aProducer({ maxRequestBytes: 3_000 });
    const sut = new DeadLetterPublisher(producer, TOPIC, { maxValueBytes: 262_144, maxMessageBytes: KAFKA_DEFAULT_MAX_MESSAGE_BYTES });
    const big = Buffer.alloc(50_000, 'd');
    const letters = [aDeadLetter({ offset: '1' }), aDeadLetter({ offset: '2', key: 'C-2', value: big }), aDeadLetter({ offset: '3' })];

    await expect(sut.publish(letters)).resolves.toBeUndefined();

    expect(sent().map((m) => m.headers![DEAD_LETTER_HEADER.offset])).toEqual(['1', '2', '3']);
    expect(sent()[1]).toEqual({
      key: null,
      value: Buffer.alloc(0),
      headers: expect.objectContaining({
        [DEAD_LETTER_HEADER.valueTruncated]: 'true',
        [DEAD_LETTER_HEADER.valueOriginalBytes]: '50000',
        [DEAD_LETTER_HEADER.valueSha256]: createHash('sha256').update(big).digest('hex'),
      }),
    });
    expect(sent()[0]!.value).toEqual(letters[0]!.value);
  });

  it('rejects on an outage, so the caller retries and nothing is dropped', async () => {
    const outage = new Error('Connection error: connect ECONNREFUSED 127.0.0.1:9092');
    const { producer } = aProducer({ failWith: outage });
    const sut = new DeadLetterPublisher(producer, TOPIC, { maxValueBytes: 262_144, maxMessageBytes: KAFKA_DEFAULT_MAX_MESSAGE_BYTES });

    await expect(sut.publish([aDeadLetter(), aDeadLetter()])).rejects.toBe(outage);
  });

  it('gives up on a send that does not answer within its timeout, so the transaction around it ends', async () => {
    const hanging: MessageProducer = { send: () => new Promise<void>(() => undefined), disconnect: async () => undefined };
    const sut = new DeadLetterPublisher(hanging, TOPIC, { maxValueBytes: 262_144, maxMessageBytes: KAFKA_DEFAULT_MAX_MESSAGE_BYTES }, 50);

    await expect(sut.publish([aDeadLetter()])).rejects.toMatchObject({ name: 'TimeoutError', message: 'the dead-letter topic did not answer within 50 ms' });
  });
});
