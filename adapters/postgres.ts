// PostgreSQL as the activities see it: SQL through node-postgres, and the server's own tools
// (pg_dump, pg_restore) from the same installation, since pg_dump refuses servers newer than itself.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Client, type ClientConfig } from 'pg';
import { runCommand } from './process';
import { resolveSecretRefs } from './secrets';

export interface PostgresTarget {
  host: string;
  port: number;
  user: string;
  /** The database the runbooks back up and restore. */
  database: string;
  password?: string;
  /** TLS as libpq spells it (the URL's sslmode, sslrootcert, sslcert, sslkey, sslcrl): honoured by
   * the tools (PGSSL* variables) and by node-postgres alike. */
  ssl?: { mode?: string; rootCert?: string; cert?: string; key?: string; crl?: string };
}

/** node-postgres's TLS options for libpq's sslmode: disable and allow connect in the clear;
 * prefer and require encrypt without checking the certificate (as libpq does without a root
 * certificate); verify-ca checks the chain, verify-full also the host name. */
export function nodeSslOptions(ssl: PostgresTarget['ssl']): false | { rejectUnauthorized: boolean; ca?: string; cert?: string; key?: string; checkServerIdentity?: () => undefined } {
  const mode = ssl?.mode;
  if (!mode || mode === 'disable' || mode === 'allow') return false;
  const files = {
    ...(ssl.rootCert ? { ca: readFileSync(ssl.rootCert, 'utf8') } : {}),
    ...(ssl.cert ? { cert: readFileSync(ssl.cert, 'utf8') } : {}),
    ...(ssl.key ? { key: readFileSync(ssl.key, 'utf8') } : {}),
  };
  if (mode === 'verify-full') return { rejectUnauthorized: true, ...files };
  if (mode === 'verify-ca') return { rejectUnauthorized: true, ...files, checkServerIdentity: () => undefined };
  return { rejectUnauthorized: false, ...files };
}

export class Postgres {
  constructor(
    readonly target: PostgresTarget,
    readonly binDir: string,
  ) {}

  static fromUrl(url: string, binDir: string): Postgres {
    const u = new URL(url);
    const q = u.searchParams;
    const ssl = q.get('sslmode') || q.get('sslrootcert') || q.get('sslcert') ? { mode: q.get('sslmode') ?? 'prefer', rootCert: q.get('sslrootcert') ?? undefined, cert: q.get('sslcert') ?? undefined, key: q.get('sslkey') ?? undefined, crl: q.get('sslcrl') ?? undefined } : undefined;
    return new Postgres(
      {
        host: u.hostname.replace(/^\[(.*)\]$/, '$1'),
        port: Number(u.port || 5432),
        user: decodeURIComponent(u.username) || 'postgres',
        database: decodeURIComponent(u.pathname.slice(1)),
        // The password may be a reference (postgres://user:${env:PGPASSWORD_CREDITS}@host/db),
        // resolved here, at the moment of use, never written into the configuration.
        password: u.password ? resolveSecretRefs(decodeURIComponent(u.password)) : undefined,
        ssl,
      },
      binDir,
    );
  }

  tool(name: 'pg_dump' | 'pg_restore' | 'psql'): string {
    return path.join(this.binDir, name);
  }

  /** Connection arguments for the command-line tools (the password goes through PGPASSWORD). The
   * database goes as a quoted conninfo value: a bare -d whose name contains "=" or starts with
   * "postgres://" would be read as a connection string by the tools (a database named
   * "host=elsewhere dbname=x" would take them elsewhere). */
  toolArgs(database = this.target.database): string[] {
    return ['-h', this.target.host, '-p', String(this.target.port), '-U', this.target.user, '-d', `dbname=${conninfoValue(database)}`];
  }

  toolEnv(): NodeJS.ProcessEnv {
    const env: NodeJS.ProcessEnv = { ...process.env, PGCONNECT_TIMEOUT: '10' };
    if (this.target.password) env.PGPASSWORD = this.target.password;
    const ssl = this.target.ssl;
    if (ssl?.mode) env.PGSSLMODE = ssl.mode;
    if (ssl?.rootCert) env.PGSSLROOTCERT = ssl.rootCert;
    if (ssl?.cert) env.PGSSLCERT = ssl.cert;
    if (ssl?.key) env.PGSSLKEY = ssl.key;
    if (ssl?.crl) env.PGSSLCRL = ssl.crl;
    return env;
  }

  /** node-postgres settings for the target with libpq's sslmode meaning (node-postgres reads
   * sslmode in a connection string its own way: "require" as "verify-full"). */
  clientConfig(database = this.target.database, connectionTimeoutMillis = 10_000): ClientConfig {
    return {
      host: this.target.host,
      port: this.target.port,
      user: this.target.user,
      password: this.target.password,
      database,
      ssl: nodeSslOptions(this.target.ssl),
      connectionTimeoutMillis,
      application_name: 'zerotrustml-runbooks',
    };
  }

  /** A connected client; the caller ends it. `database` defaults to the target. */
  async connect(database = this.target.database): Promise<Client> {
    const client = new Client(this.clientConfig(database));
    // A server going away mid-query emits 'error' on the client; the pending query rejects anyway.
    client.on('error', () => undefined);
    await client.connect();
    return client;
  }

  async withClient<T>(database: string | undefined, fn: (c: Client) => Promise<T>): Promise<T> {
    const client = await this.connect(database);
    try {
      return await fn(client);
    } finally {
      await client.end().catch(() => undefined);
    }
  }

  private readonly versions = new Map<string, Promise<string>>();

  /** `pg_dump --version` and the like, asked once per process. */
  toolVersion(name: 'pg_dump' | 'pg_restore'): Promise<string> {
    let v = this.versions.get(name);
    if (!v) {
      v = runCommand([this.tool(name), '--version']).then((r) => r.stdout.trim());
      v.catch(() => this.versions.delete(name));
      this.versions.set(name, v);
    }
    return v;
  }
}

/** User tables of a database ("schema.table"), in a stable order. */
export async function listTables(client: Client): Promise<string[]> {
  const r = await client.query<{ name: string }>(
    `SELECT quote_ident(n.nspname) || '.' || quote_ident(c.relname) AS name
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.relkind IN ('r', 'p') AND n.nspname NOT IN ('pg_catalog', 'information_schema')
        AND n.nspname NOT LIKE 'pg_toast%' AND n.nspname NOT LIKE 'pg_temp%'
      ORDER BY 1`,
  );
  return r.rows.map((row) => row.name);
}

export async function countRows(client: Client, tables: string[]): Promise<Record<string, number>> {
  const counts: Record<string, number> = {};
  for (const table of tables) {
    // Names come from quote_ident above, so they are safe to splice.
    const r = await client.query<{ n: string }>(`SELECT count(*) AS n FROM ${table}`);
    counts[table] = Number(r.rows[0]?.n ?? 0);
  }
  return counts;
}

/** A value for a libpq conninfo string: single-quoted, with backslashes and quotes escaped. */
export function conninfoValue(value: string): string {
  return `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}

export function quoteIdent(name: string): string {
  return '"' + name.replace(/"/g, '""') + '"';
}
