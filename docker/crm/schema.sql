-- The CRM side of the CDC chain: a brand's customer table as its own system keeps it, captured by
-- Debezium (docker/connect.sh) into the topic crm.public.customers. Idempotent: applied by
-- scripts/crm-generator.ts before every command.
CREATE TABLE IF NOT EXISTS customers (
  customer_id text PRIMARY KEY,
  first_name  text,
  last_name   text,
  -- As typed at the counter or on the web: mixed case and stray spaces are kept, the service
  -- normalises them.
  email       text,
  -- Local formats as staff enter them ('0912-345-678', '0912 345 678', '+886912345678').
  mobile      text,
  birthday    date,
  gender      text CHECK (gender IN ('M', 'F', 'O')),
  tier        text,
  points      integer NOT NULL DEFAULT 0,
  opt_in_sms  boolean NOT NULL DEFAULT false,
  updated_at  timestamptz NOT NULL DEFAULT now()
);

-- Updates and deletes log the whole old row, so that a Debezium "u" event carries a complete
-- "before" and the service can send only the columns that changed.
ALTER TABLE customers REPLICA IDENTITY FULL;
