import { Module } from '@nestjs/common';
import { DeadLetterRelay } from './dead-letter-relay.service';
import { DeadLettersController } from './dead-letters.controller';

@Module({
  controllers: [DeadLettersController],
  providers: [DeadLetterRelay],
  exports: [DeadLetterRelay],
})
export class DeadLetterModule {}
