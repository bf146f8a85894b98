import { ApiBearerAuth, ApiTags } from '@nestjs/swagger';
import { Controller, Get, UseGuards } from '@nestjs/common';
import { AdminTokenGuard } from '../http/admin-token.guard';
import { DeadLetterRelay } from './dead-letter-relay.service';

@Controller('admin/dead-letters')
@ApiTags('admin')
@ApiBearerAuth('admin-token')
@UseGuards(AdminTokenGuard)
export class DeadLettersController {
  constructor(private readonly relay: DeadLetterRelay) {}

  /**
   * Dead letters that went through the outbox (import and export failures), by stage: published to
   * the topic, and still waiting. Ingest errors go to the topic directly and are counted in metrics.
   */
  @Get()
  async counts() {
    return { stages: await this.relay.outbox.counts() };
  }
}
