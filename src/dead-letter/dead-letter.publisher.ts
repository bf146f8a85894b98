import type { MessageProducer } from '../kafka/kafka.adapter';
import { deadLetterHeaders, type DeadLetter } from './dead-letter';

/** Writes dead letters to the dead-letter topic; a failure rejects, so the caller retries. */
export class DeadLetterPublisher {
  constructor(
    private readonly producer: MessageProducer,
    private readonly topic: string,
  ) {}

  async publish(letters: DeadLetter[]): Promise<void> {
    if (letters.length === 0) return;
    await this.producer.send(
      this.topic,
      letters.map((letter) => ({ key: letter.key, value: letter.value, headers: deadLetterHeaders(letter) })),
    );
  }
}
