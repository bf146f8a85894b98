import { Module } from '@nestjs/common';
import { ImporterModule } from '../importer/importer.module';
import { ReconcileService } from './reconcile.service';

@Module({
  imports: [ImporterModule],
  providers: [ReconcileService],
})
export class ReconcileModule {}
