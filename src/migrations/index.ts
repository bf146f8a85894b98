import { InitialSchema1795860000000 } from './1795860000000-initial-schema';
import { SourceTimeFloor1795880000000 } from './1795880000000-source-time-floor';
import { PlpgsqlMergeFields1795900000000 } from './1795900000000-plpgsql-merge-fields';
import { ExportJobProgress1795950000000 } from './1795950000000-export-job-progress';

/** Every migration, oldest first. A new migration is a new timestamped file added here. */
export const MIGRATIONS = [InitialSchema1795860000000, SourceTimeFloor1795880000000, PlpgsqlMergeFields1795900000000, ExportJobProgress1795950000000];
