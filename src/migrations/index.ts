import { InitialSchema1795860000000 } from './1795860000000-initial-schema';
import { SourceTimeFloor1795880000000 } from './1795880000000-source-time-floor';
import { PlpgsqlMergeFields1795900000000 } from './1795900000000-plpgsql-merge-fields';
import { OneOpenBatchFenced1795930000000 } from './1795930000000-one-open-batch-fenced';
import { ImportRequestLog1795940000000 } from './1795940000000-import-request-log';
import { CanonicalTieBreak1795940000001 } from './1795940000001-canonical-tie-break';
import { ExportJobProgress1795950000000 } from './1795950000000-export-job-progress';
import { PendingContactCount1795960000000 } from './1795960000000-pending-contact-count';
import { ReconcileFromExport1795980000000 } from './1795980000000-reconcile-from-export';
import { PendingChangeSource1795990000000 } from './1795990000000-pending-change-source';
import { ShortFieldHashes1796000000000 } from './1796000000000-short-field-hashes';
import { VacuumSettings1796010000000 } from './1796010000000-vacuum-settings';
import { ExportIntegrity1796020000000 } from './1796020000000-export-integrity';
import { ContactIdentity1796030000000 } from './1796030000000-contact-identity';
import { DriftRowId1796040000000 } from './1796040000000-drift-row-id';
import { DeadLetterPublishedIndex1796040000001 } from './1796040000001-dead-letter-published-index';
import { StableFieldHash1796050000000 } from './1796050000000-stable-field-hash';
import { CompactContactState1796050000001 } from './1796050000001-compact-contact-state';

/** Every migration, oldest first. A new migration is a new timestamped file added here. */
export const MIGRATIONS = [
  InitialSchema1795860000000,
  SourceTimeFloor1795880000000,
  PlpgsqlMergeFields1795900000000,
  OneOpenBatchFenced1795930000000,
  ImportRequestLog1795940000000,
  CanonicalTieBreak1795940000001,
  ExportJobProgress1795950000000,
  PendingContactCount1795960000000,
  ReconcileFromExport1795980000000,
  PendingChangeSource1795990000000,
  ShortFieldHashes1796000000000,
  VacuumSettings1796010000000,
  ExportIntegrity1796020000000,
  ContactIdentity1796030000000,
  DriftRowId1796040000000,
  DeadLetterPublishedIndex1796040000001,
  StableFieldHash1796050000000,
  CompactContactState1796050000001,
];
