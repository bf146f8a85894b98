import { PROFILE_API_MAX_ROWS } from '../src/caac/caac.client';
import { PROFILE_API_RATE_PER_MIN } from '../src/config/app-config';

/**
 * What a generic sink (an HTTP sink connector, say) would cost the Profile API for a workload,
 * next to what the service used. The generic sink is given its best case: every import full
 * (10,000 events), none refused, no wait for the previous import's task. It cannot coalesce, so it
 * sends every event; the service sends each contact's fields once per drain.
 */
export interface GenericSinkCost {
  /** Imports a generic sink needs: ceil(events / 10,000) per key type. */
  generic_imports: number;
  /** Hours of the 15-a-minute budget those imports take. */
  generic_budget_hours: number;
  /** Imports the service used (or, where the benchmark does not import, would use). */
  service_imports: number;
  service_budget_hours: number;
  /** generic / service: how many times more of the API a generic sink spends. */
  generic_to_service: number;
}

/** Imports needed to send `rows` rows of one key type in full batches. */
export function importsFor(rows: number): number {
  return Math.ceil(rows / PROFILE_API_MAX_ROWS);
}

/** Hours of the 15-a-minute import budget that `imports` imports occupy. */
export function budgetHours(imports: number): number {
  return imports / PROFILE_API_RATE_PER_MIN / 60;
}

/**
 * `eventsPerKeyType`: every event of the workload a generic sink would forward, counted per key
 * type (an import carries one key type). `serviceImports`: what the service used or would use.
 */
export function genericSinkCost(eventsPerKeyType: number[], serviceImports: number): GenericSinkCost {
  const genericImports = eventsPerKeyType.reduce((sum, events) => sum + importsFor(events), 0);
  const round = (hours: number) => Number(hours.toFixed(3));
  return {
    generic_imports: genericImports,
    generic_budget_hours: round(budgetHours(genericImports)),
    service_imports: serviceImports,
    service_budget_hours: round(budgetHours(serviceImports)),
    generic_to_service: serviceImports > 0 ? Number((genericImports / serviceImports).toFixed(1)) : NaN,
  };
}
