/**
 * The PostgreSQL inventory's schema, as numbered migrations applied forward in one transaction each
 * under an advisory lock (two boot servers starting together do not both apply one). Plain SQL in
 * order rather than a migration framework: the schema is a handful of tables, the runner is twenty
 * lines, and the package keeps one database dependency (`pg`).
 *
 * Records are JSON documents (`jsonb`) keyed as the JSON file keys them; what the store searches
 * by has an index. `seq` keeps insertion order, as the JSON file's arrays do.
 */
export interface Migration { version: number; name: string; sql: string }

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'inventory',
    sql: `
      CREATE TABLE netboot_devices (
        mac text PRIMARY KEY,
        seq bigserial NOT NULL,
        doc jsonb NOT NULL
      );
      CREATE INDEX netboot_devices_macs ON netboot_devices USING gin ((doc->'macs'));
      CREATE INDEX netboot_devices_uuid ON netboot_devices ((doc->>'uuid'));
      CREATE TABLE netboot_records (
        kind text NOT NULL,
        id text NOT NULL,
        seq bigserial NOT NULL,
        doc jsonb NOT NULL,
        PRIMARY KEY (kind, id)
      );
      CREATE TABLE netboot_events (
        seq bigserial PRIMARY KEY,
        ts text NOT NULL,
        type text NOT NULL,
        mac text,
        ip text,
        message text,
        data jsonb
      );
      CREATE INDEX netboot_events_mac ON netboot_events (mac, seq);
      CREATE TABLE netboot_boots (
        mac text NOT NULL,
        id text NOT NULL,
        started_at double precision NOT NULL,
        seq bigserial NOT NULL,
        doc jsonb NOT NULL,
        PRIMARY KEY (mac, id)
      );
      CREATE INDEX netboot_boots_started ON netboot_boots (started_at);
      CREATE TABLE netboot_settings (
        id integer PRIMARY KEY CHECK (id = 1),
        doc jsonb NOT NULL
      );
      INSERT INTO netboot_settings (id, doc) VALUES (1, '{}');
    `,
  },
  {
    version: 2,
    name: 'build queue',
    // the claim looks only at live builds, oldest first; finished ones pile up as history
    sql: `
      CREATE INDEX netboot_builds_live ON netboot_records (seq)
        WHERE kind = 'builds' AND doc->>'status' IN ('pending', 'building');
    `,
  },
  {
    version: 3,
    name: 'events carry the site of the boot server that recorded them',
    sql: `
      ALTER TABLE netboot_events ADD COLUMN site text;
      CREATE INDEX netboot_events_site ON netboot_events (site, seq);
    `,
  },
];
