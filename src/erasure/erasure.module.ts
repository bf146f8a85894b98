import { Module } from '@nestjs/common';
import { ContactErasure } from './contact-erasure.service';
import { ForgetController } from './forget.controller';

/** Erasure of one person (`forget`): reads and deletes across every stage's tables, so it sits at the top. */
@Module({
  controllers: [ForgetController],
  providers: [ContactErasure],
})
export class ErasureModule {}
