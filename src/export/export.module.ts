import { Module } from '@nestjs/common';
import { ScheduleModule } from '@nestjs/schedule';
import { TerminusModule } from '@nestjs/terminus';
import { ImporterModule } from '../importer/importer.module';
import { ExportHealth } from './export.health';
import { ExportRunner } from './export-runner.service';
import { ExportsController } from './exports.controller';

@Module({
  imports: [TerminusModule, ScheduleModule.forRoot(), ImporterModule],
  controllers: [ExportsController],
  providers: [ExportRunner, ExportHealth],
  exports: [ExportHealth],
})
export class ExportModule {}
