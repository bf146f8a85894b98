import { InitialSchema1795860000000 } from './1795860000000-initial-schema';

/** Every migration, oldest first. A new migration is a new timestamped file added here. */
export const MIGRATIONS = [InitialSchema1795860000000];
