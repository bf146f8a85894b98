import type { MigrationInterface, QueryRunner } from 'typeorm';

/**
 * caac_sync_field_hash is declared STABLE, as its body is (convert_to is STABLE). Declared
 * IMMUTABLE, Postgres refused to inline it into the statements that call it and ran it as a
 * function call per value, four times slower (100,000 values: 0.97 s against 0.22 s); the claim's
 * look through a contact's other keys and reconcile's drift requeueing hash every pending value
 * they read. Nothing indexes or stores the function's result by its volatility, and the hash it
 * computes is unchanged.
 */
export class StableFieldHash1796050000000 implements MigrationInterface {
  name = 'StableFieldHash1796050000000';

  async up(db: QueryRunner): Promise<void> {
    await db.query(`ALTER FUNCTION caac_sync_field_hash(jsonb) STABLE`);
  }

  async down(db: QueryRunner): Promise<void> {
    await db.query(`ALTER FUNCTION caac_sync_field_hash(jsonb) IMMUTABLE`);
  }
}
