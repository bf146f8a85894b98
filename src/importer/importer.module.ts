import { Module } from '@nestjs/common';
import { TerminusModule } from '@nestjs/terminus';
import { ImportScheduler } from './import-scheduler.service';
import { ImporterHealth } from './importer.health';
import { ImporterLeader } from './importer-leader.service';
import { ImportsController } from './imports.controller';

@Module({
  imports: [TerminusModule],
  controllers: [ImportsController],
  providers: [ImportScheduler, ImporterLeader, ImporterHealth],
  exports: [ImporterHealth, ImportScheduler, ImporterLeader],
})
export class ImporterModule {}
