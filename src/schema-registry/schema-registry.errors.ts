/**
 * The registry answered that the schema id does not exist (404 with Confluent's error code 40403).
 * Deterministic: every event framed with this id fails the same way, so it is dead-lettered.
 */
export class SchemaNotFoundError extends Error {
  readonly code = 'schema_not_found';
  constructor(readonly schemaId: number) {
    super(`schema id ${schemaId} does not exist in the Schema Registry (404, error code 40403)`);
    this.name = 'SchemaNotFoundError';
  }
}

/**
 * The registry could not say (unreachable, a timeout, 5xx, auth refused, an answer we cannot read).
 * Transient: the batch is retried with backoff until the registry answers; nothing is skipped.
 * The message names the registry's answer by status only, never its body or the credentials.
 */
export class SchemaRegistryUnavailableError extends Error {
  readonly code = 'schema_registry_unavailable';
  constructor(
    message: string,
    /** A short category for health and logs: timeout, unreachable, auth_failed, http_<status>, bad_answer. */
    readonly reason: string,
  ) {
    super(message);
    this.name = 'SchemaRegistryUnavailableError';
  }
}
