/**
 * Generated from src/ingest/schemas/profile-change.v1.json by `npm run schemas:types` (json-schema-to-typescript).
 * Do not edit: change the schema and run the command again; a unit test fails while the two differ.
 */

/**
 * One field-level change to one CAAC contact, published by a brand's own services. An event that fails any check is dead-lettered whole. Absent fields stay as they are; null clears a field. Besides this schema, the service normalises e-mail (trim, lower case), mobile (E.164, numbers without a country code read in DEFAULT_PHONE_REGION) and region (lower case), and checks that mobiles are valid numbers.
 */
export interface ProfileChangeV1 {
  /**
   * Unique per change: a ULID or a UUID.
   */
  event_id: string;
  /**
   * When the change happened at the source: ISO-8601 date-time with a time zone. Newer changes win per field. Not before 2000-01-01, and not more than MAX_FUTURE_SKEW_MS (one day by default) ahead of the service's clock.
   */
  occurred_at: string;
  /**
   * Exactly one import key identifying the contact.
   */
  key: {
    /**
     * Text that can be stored: no control characters but tab, line feed and carriage return (U+0000-U+0008, U+000B, U+000C, U+000E-U+001F are refused), and no lone surrogates (a \ud800 escape without its pair).
     */
    line_uid?: string;
    /**
     * Text that can be stored: no control characters but tab, line feed and carriage return (U+0000-U+0008, U+000B, U+000C, U+000E-U+001F are refused), and no lone surrogates (a \ud800 escape without its pair).
     */
    display_email?: string;
    /**
     * Text that can be stored: no control characters but tab, line feed and carriage return (U+0000-U+0008, U+000B, U+000C, U+000E-U+001F are refused), and no lone surrogates (a \ud800 escape without its pair).
     */
    display_mobile?: string;
    /**
     * Text that can be stored: no control characters but tab, line feed and carriage return (U+0000-U+0008, U+000B, U+000C, U+000E-U+001F are refused), and no lone surrogates (a \ud800 escape without its pair).
     */
    connect_id?: string;
    /**
     * Text that can be stored: no control characters but tab, line feed and carriage return (U+0000-U+0008, U+000B, U+000C, U+000E-U+001F are refused), and no lone surrogates (a \ud800 escape without its pair).
     */
    customer_id?: string;
  };
  /**
   * The patch. Custom fields go under custom; any other unknown field is an error.
   */
  profile: {
    /**
     * Text that can be stored: no control characters but tab, line feed and carriage return (U+0000-U+0008, U+000B, U+000C, U+000E-U+001F are refused), and no lone surrogates (a \ud800 escape without its pair).
     */
    display_name?: string | null;
    /**
     * Text that can be stored: no control characters but tab, line feed and carriage return (U+0000-U+0008, U+000B, U+000C, U+000E-U+001F are refused), and no lone surrogates (a \ud800 escape without its pair).
     */
    full_name?: string | null;
    /**
     * An e-mail address, at most 255 characters.
     */
    display_email?: string | null;
    /**
     * A phone number; stored in E.164, at most 32 characters.
     */
    display_mobile?: string | null;
    /**
     * Text that can be stored: no control characters but tab, line feed and carriage return (U+0000-U+0008, U+000B, U+000C, U+000E-U+001F are refused), and no lone surrogates (a \ud800 escape without its pair).
     */
    line_uid?: string | null;
    /**
     * Text that can be stored: no control characters but tab, line feed and carriage return (U+0000-U+0008, U+000B, U+000C, U+000E-U+001F are refused), and no lone surrogates (a \ud800 escape without its pair).
     */
    customer_id?: string | null;
    /**
     * Text that can be stored: no control characters but tab, line feed and carriage return (U+0000-U+0008, U+000B, U+000C, U+000E-U+001F are refused), and no lone surrogates (a \ud800 escape without its pair).
     */
    connect_id?: string | null;
    /**
     * YYYY-MM-DD, a real calendar date.
     */
    birthday?: string | null;
    gender?: 'male' | 'female' | 'other' | null;
    /**
     * One of tw, jp, th, hk, sg, my, cn, kr, mo, id, in, ph, vn, kh, mm, other (case-insensitive).
     */
    region?: string | null;
    /**
     * Text that can be stored: no control characters but tab, line feed and carriage return (U+0000-U+0008, U+000B, U+000C, U+000E-U+001F are refused), and no lone surrogates (a \ud800 escape without its pair).
     */
    city?: string | null;
    /**
     * Text that can be stored: no control characters but tab, line feed and carriage return (U+0000-U+0008, U+000B, U+000C, U+000E-U+001F are refused), and no lone surrogates (a \ud800 escape without its pair).
     */
    address?: string | null;
    /**
     * Text that can be stored: no control characters but tab, line feed and carriage return (U+0000-U+0008, U+000B, U+000C, U+000E-U+001F are refused), and no lone surrogates (a \ud800 escape without its pair).
     */
    company?: string | null;
    /**
     * Text that can be stored: no control characters but tab, line feed and carriage return (U+0000-U+0008, U+000B, U+000C, U+000E-U+001F are refused), and no lone surrogates (a \ud800 escape without its pair).
     */
    account_manager?: string | null;
    /**
     * Text that can be stored: no control characters but tab, line feed and carriage return (U+0000-U+0008, U+000B, U+000C, U+000E-U+001F are refused), and no lone surrogates (a \ud800 escape without its pair).
     */
    contact_status?: string | null;
    /**
     * Text that can be stored: no control characters but tab, line feed and carriage return (U+0000-U+0008, U+000B, U+000C, U+000E-U+001F are refused), and no lone surrogates (a \ud800 escape without its pair).
     */
    member_level?: string | null;
    star_mark?: boolean | null;
    age?: never;
    engagement_level?: never;
    /**
     * Custom fields, sent to CAAC as cl_custom_<name>. Values are strings (ISO-8601 dates as strings), numbers, or null.
     */
    custom?: {
      [k: string]: string | number | null;
    };
  };
}
