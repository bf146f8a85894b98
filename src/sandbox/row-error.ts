/** Why one row of an import was not applied, as the Profile API reports it in `errors`. */
export interface RowError {
  index: number;
  key: unknown;
  field: string | null;
  reason: string;
}
