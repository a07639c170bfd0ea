// The configuration's shape and defaults. Defaults are the runbook's: database "credits" owned by
// "zerotrustml", backups at 02:00 daily kept 30 days. Loading (file + environment) is in
// config/load.ts; this module stays pure so anything can import it.
import { z } from 'zod';
import { identity, isDatabaseName } from './formats';
import { isRunbookName, runbookWorkflows } from './runbooks';
import { defaultKpiRules, thresholdOrderProblem, type KpiName } from './kpi';

const clock = z
  .string()
  .regex(/^([01]\d|2[0-3]):([0-5]\d)$/, { message: 'expected a time of day as HH:MM (00:00 to 23:59)' });

const port = z.number({ message: 'expected a TCP port number' }).int().min(1).max(65535);

const timeZone = z.string().refine(
  (tz) => {
    try {
      new Intl.DateTimeFormat('en-US', { timeZone: tz });
      return true;
    } catch {
      return false;
    }
  },
  { message: 'expected an IANA time zone such as UTC or Europe/Berlin' },
);

/** Query parameters of a database URL that are honoured (libpq's names); anything else is refused
 * rather than silently dropped. */
export const postgresUrlParameters = ['sslmode', 'sslrootcert', 'sslcert', 'sslkey', 'sslcrl', 'application_name', 'connect_timeout'] as const;
const sslModes = ['disable', 'allow', 'prefer', 'require', 'verify-ca', 'verify-full'];

const postgresUrl = z.string().superRefine((u, ctx) => {
  const fail = (message: string): void => void ctx.addIssue({ code: 'custom', message });
  let url: URL;
  try {
    url = new URL(u);
  } catch {
    return fail('expected a URL like postgres://user@host:port/database');
  }
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') return fail('expected a URL like postgres://user@host:port/database');
  if (!url.hostname) return fail('expected a URL with a host, like postgres://user@host:port/database');
  let name: string;
  try {
    name = decodeURIComponent(url.pathname.slice(1));
  } catch {
    return fail('expected a percent-encoded database name');
  }
  if (!isDatabaseName(name) || name.includes('/')) return fail('expected a database name of 1-63 bytes without "/" or control characters after the host (postgres://user@host:port/database)');
  for (const [k, v] of url.searchParams) {
    if (!(postgresUrlParameters as readonly string[]).includes(k)) return fail(`expected only the parameters ${postgresUrlParameters.join(', ')}; ${k} is not honoured`);
    if (k === 'sslmode' && !sslModes.includes(v)) return fail(`expected sslmode to be one of ${sslModes.join(', ')}`);
  }
});

const kpiThresholds = z
  .object({ warning: z.number().optional(), critical: z.number().optional() })
  .strict();

/** Per KPI (its name in common/kpi.ts), thresholds that replace the runbook's. */
const kpiOverrides = z
  .record(z.string(), kpiThresholds)
  .superRefine((rec, ctx) => {
    const names = defaultKpiRules.map((r) => r.name as string);
    for (const [name, t] of Object.entries(rec)) {
      const rule = defaultKpiRules.find((r) => r.name === name);
      if (!rule) {
        ctx.addIssue({ code: 'custom', path: [name], message: `expected one of the KPI names ${names.join(', ')}` });
        continue;
      }
      const problem = thresholdOrderProblem({ ...rule, warning: t.warning ?? rule.warning, critical: t.critical ?? rule.critical });
      if (problem) ctx.addIssue({ code: 'custom', path: [name], message: `${problem} (${rule.label} is bad when ${rule.bad})` });
    }
  })
  .transform((rec) => rec as Partial<Record<KpiName, { warning?: number; critical?: number }>>);

/** What a host does for the runbooks: database (the PostgreSQL server: its restarts), backups
 * (where dumps, exports and archives are written and read back: the backup directories live
 * there), conductor (the conductor process: stop, start, wipe, its log), application (the
 * credits service: stop, start, its logs and upgrade hook). */
export const hostRoles = ['database', 'backups', 'conductor', 'application'] as const;
export type HostRole = (typeof hostRoles)[number];

/** The task queue of a host's worker. */
export function hostQueue(taskQueue: string, host: string): string {
  return `${taskQueue}@${host}`;
}

/** The host whose queue this is (hostQueue's inverse), or undefined for the shared queue. */
export function hostOfQueue(queue: string): string | undefined {
  const at = queue.lastIndexOf('@');
  return at < 0 ? undefined : queue.slice(at + 1);
}

/** A name that may become part of a file name or a call: no path separator, no leading dash. */
const plainName = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$/, { message: 'expected 1-100 letters, digits, _ . - (starting with a letter or digit)' });

const command = z.array(z.string().min(1)).min(1, { message: 'expected a command as an argument array' });

/** How a service is controlled: a systemd unit (systemctl with argument arrays) or commands. */
const serviceSpec = z.discriminatedUnion('type', [
  z.object({ type: z.literal('systemd'), unit: z.string().min(1), clean: command.optional() }).strict(),
  z.object({ type: z.literal('command'), start: command, stop: command, clean: command.optional(), status: command.optional() }).strict(),
]);

/** A service of the drill's scratch environment: commands in which {dir}, {port}, {database} and
 * {role} are replaced (argument arrays, never shell strings). */
const drillService = z.object({ start: command, stop: command }).strict();

/** Each alert of the runbook's alerting section (Prometheus name and built-in health check name)
 * to its response runbook; `receiver.routes` replaces the whole map. */
const plainRole = z.string().regex(/^[a-z][a-z0-9_-]{0,39}$/, { message: 'expected a role name of lower-case letters, digits, _ and -' });

export const defaultRoutes: Record<string, string> = {
  CreditsServiceDown: 'incident-system-unresponsive',
  CreditsServiceUnresponsive: 'incident-system-unresponsive',
  HighAverageResponseTime: 'incident-high-latency',
  VeryHighP99ResponseTime: 'incident-high-latency',
  'KPI Average response time': 'incident-high-latency',
  'KPI P99 response time': 'incident-high-latency',
  LowDetectionRate: 'incident-byzantine-detection-failure',
  'KPI Byzantine detection rate': 'incident-byzantine-detection-failure',
  HighDetectionActivity: 'incident-high-detection-activity',
  HighErrorRate: 'incident-error-rate',
  'KPI Error rate': 'incident-error-rate',
  LowHealthyNodePercentage: 'incident-low-healthy-nodes',
  'KPI Healthy node %': 'incident-low-healthy-nodes',
  HighRateLimitViolations: 'incident-rate-limit-violations',
  'KPI Rate limit violations': 'incident-rate-limit-violations',
  HighMemoryUsage: 'incident-high-memory',
  'KPI Memory usage': 'incident-high-memory',
};

export const configSchema = z
  .object({
    /** This configuration operates real hosts: every sandbox part must be off (the schema refuses
     * a managed database, conductor, application or monitoring), and the settings that have
     * sandbox defaults must be given (see productionRequired in config/load.ts). */
    production: z.boolean().default(false),
    /** Where the sandbox keeps its state (Temporal db, PostgreSQL cluster, backups, pid files). */
    dataDir: z.string().min(1).default('.data'),
    timezone: timeZone.default('UTC'),
    temporal: z
      .object({
        address: z.string().regex(/^[^:\s]+:\d+$/, { message: 'expected host:port' }).default('127.0.0.1:17233'),
        namespace: z.string().min(1).default('default'),
        taskQueue: z.string().min(1).default('zerotrustml-runbooks'),
        uiPort: port.default(18233),
        /** What `stack up` runs: the dev server (SQLite, one process), or the Temporal server
         * itself with PostgreSQL persistence of its own, as a production cluster does. */
        server: z.enum(['dev', 'cluster']).default('dev'),
        /** The cluster mode's own PostgreSQL (never the credits cluster). */
        clusterPostgresPort: port.default(55436),
        /** Path of the `temporal` CLI; else found or built (sandbox/temporal-cli.ts). */
        cli: z.string().min(1).optional(),
        /** TLS to the server (a cluster's frontend): its CA, a client certificate and key, and the
         * name the server's certificate carries. Environment: TEMPORAL_TLS_SERVER_CA_CERT_PATH,
         * TEMPORAL_TLS_CLIENT_CERT_PATH, TEMPORAL_TLS_CLIENT_KEY_PATH, TEMPORAL_TLS_SERVER_NAME. */
        tls: z
          .object({ caFile: z.string().min(1).optional(), certFile: z.string().min(1).optional(), keyFile: z.string().min(1).optional(), serverName: z.string().min(1).optional() })
          .strict()
          .optional(),
        /** An API key (TEMPORAL_API_KEY): write it as ${env:NAME} or ${file:PATH}. */
        apiKey: z.string().min(1).optional(),
        /** Worker Deployment versioning: each worker is a version (deployment name and build id)
         * of one deployment; incidents and runs that wait for approvals stay on the version they
         * started on (pinned), short runbooks move to the current version (auto-upgrade). */
        versioning: z
          .object({
            enabled: z.boolean().default(false),
            deploymentName: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/, { message: 'expected a deployment name of letters, digits, . _ -' }).default('zerotrustml-runbooks'),
            /** Default: <package version>+<git commit> (RUNBOOK_BUILD_ID overrides). */
            buildId: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9.+_-]{0,99}$/, { message: 'expected a build id of letters, digits, . + _ -' }).optional(),
            /** A worker that starts makes its version the deployment's current one (new runs go
             * to it; pinned runs stay where they are). Off when a rollout tool promotes versions. */
            promoteOnStart: z.boolean().default(true),
          })
          .strict()
          .prefault({}),
      })
      .strict()
      .prefault({}),
    database: z
      .object({
        url: postgresUrl.default('postgres://zerotrustml@127.0.0.1:55432/credits'),
        /** A production target: destructive steps wait for an approval Update. */
        production: z.boolean().default(false),
        /** Start and own a PostgreSQL cluster under dataDir (the sandbox); false for an existing server. */
        managed: z.boolean().default(true),
        /** PostgreSQL binaries directory; else found from pg_config or /usr/lib/postgresql. */
        binDir: z.string().min(1).optional(),
        /** How the incident runbooks restart PostgreSQL (e.g. {type: systemd, unit: postgresql}).
         * Default for a managed cluster: the sandbox's cluster commands; otherwise none. */
        service: serviceSpec.optional(),
      })
      .strict()
      .prefault({}),
    /** The physical tier: continuous WAL archiving and physical backups with pgBackRest, restored
     * to any second (restore-cluster). Runs on the database host (its data directory). */
    physicalBackup: z
      .object({
        /** Default: on for the sandbox's own cluster (database.managed), off otherwise. */
        enabled: z.boolean({ message: 'expected true or false' }).optional(),
        stanza: plainName.default('credits'),
        /** pgBackRest's repository. Default: <dataDir>/backups/pgbackrest. */
        repository: z.string().min(1).optional(),
        /** The server's data directory on the database host. Default for the sandbox:
         * <dataDir>/postgres; required otherwise. */
        dataDirectory: z.string().min(1).optional(),
        /** The server's Unix socket directory (pgBackRest connects through it). Default for the
         * sandbox: <dataDir>/postgres-socket; otherwise libpq's default. */
        socketDirectory: z.string().min(1).optional(),
        /** The pgbackrest program; else found on PATH. */
        program: z.string().min(1).optional(),
        /** A WAL segment is archived at least this often while writes happen: the recovery point. */
        archiveTimeoutSeconds: z.number().int().min(1).max(3600).default(60),
        processMax: z.number().int().min(1).max(32).default(2),
        /** zstd level 1 (reference-facts: 8.2 s and 288 MB for a 1.27 GB database). */
        compressLevel: z.number().int().min(1).max(19).default(1),
        /** Full backups kept (with everything that depends on them and the WAL they need). */
        retentionFull: z.number().int().min(1).max(99).default(2),
        /** Full weekly, differential daily, incremental every N minutes (in `timezone`). */
        fullDay: z.enum(['SUNDAY', 'MONDAY', 'TUESDAY', 'WEDNESDAY', 'THURSDAY', 'FRIDAY', 'SATURDAY']).default('SUNDAY'),
        fullTime: clock.default('01:00'),
        differentialTime: clock.default('01:30'),
        incrementalEveryMinutes: z.number().int().min(5).max(1440).default(60),
        /** Where a restored copy is started and checked before a switch (loopback). */
        restorePort: port.default(55497),
        /** The worker on the database host serves the archiver's and the backups' figures for
         * Prometheus here (127.0.0.1:<port>/metrics; 0: off). */
        metricsPort: z.number().int().min(0).max(65535).default(19465),
        /** The address that port binds to: loopback unless Prometheus scrapes from another host. */
        metricsAddress: z.string().min(1).default('127.0.0.1'),
      })
      .strict()
      .prefault({}),
    backup: z
      .object({
        /** Default: <dataDir>/backups/postgres. */
        directory: z.string().min(1).optional(),
        retentionDays: z
          .number({ message: 'expected a whole number of days' })
          .int({ message: 'expected a whole number of days' })
          .min(1, { message: 'expected at least 1 day' })
          .max(3650, { message: 'expected at most 3650 days' })
          .default(30),
        schedule: clock.default('02:00'),
        compression: z.enum(['zstd', 'gzip', 'none']).default('zstd'),
        /** A new backup smaller than this share of the previous verified one (bytes or rows) is
         * flagged: "latest" and disaster recovery pass it over unless it is named explicitly. */
        flagBelowRatio: z.number().gt(0).max(1).default(0.5),
        /** zstd level 1 and two threads measured fastest at equal size (docs/benchmarks.md). */
        level: z.number().int().min(1).max(19).default(1),
        threads: z.number().int().min(1).max(64).default(2),
      })
      .strict()
      .prefault({}),
    application: z
      .object({
        /** How the credits application is stopped, started and restarted: a systemd unit or
         * commands. Default for a managed application: the simulator's own control CLI. */
        service: serviceSpec.optional(),
        /** Older form of service (commands only); used when service is not given. */
        stop: command.optional(),
        start: command.optional(),
        /** The status report (the production monitor's shape); the health check reads it. */
        statusUrl: z.string().url({ message: 'expected a URL like http://app-host:8000/status' }).default('http://127.0.0.1:18000/status'),
        /** Its Prometheus metrics (memory usage); default: /metrics beside the status report. */
        metricsUrl: z.string().url().optional(),
        /** Its operations API (node restarts and bans, rate limits, the metrics window), which the
         * alert response runbooks act through; default: /admin/ beside the status report. */
        adminUrl: z.string().url({ message: 'expected a URL like http://app-host:8000/admin/' }).optional(),
        /** The sandbox runs the credits-service simulator (npm start). */
        managed: z.boolean().default(true),
        eventsPerSecond: z.number().positive().max(1000).default(5),
      })
      .strict()
      .prefault({}),
    conductor: z
      .object({
        adminUrl: z.string().regex(/^wss?:\/\/[^/]+\/?$/, { message: 'expected a WebSocket URL like ws://127.0.0.1:8888' }).default('ws://127.0.0.1:18888'),
        /** Sent as the Origin header: the conductor refuses WebSocket upgrades without one. */
        origin: z.string().min(1).default('zerotrustml-runbooks'),
        // Names go into file names (exports) and zome calls: letters, digits, _ . - only.
        appId: plainName.default('zerotrustml'),
        roleName: plainName.default('zerotrustml'),
        zomeName: plainName.default('zerotrustml_credits'),
        /** The runbook's zome functions; the original zome does not have them, so they are names. */
        functions: z
          .object({
            exportState: plainName.default('export_state'),
            importState: plainName.default('import_state'),
            getAllCredits: plainName.default('get_all_credits'),
            triggerGossip: plainName.default('trigger_gossip'),
            getNetworkStats: plainName.default('get_network_stats'),
          })
          .strict()
          .prefault({}),
        timeoutSeconds: z.number().positive().max(600).default(10),
        readyTimeoutSeconds: z.number().positive().max(3600).default(60),
        /** install_app reads this when the app is missing. Default: the sandbox's bundle. */
        appBundle: z.string().min(1).optional(),
        /** The sandbox runs the stand-in conductor with its data here (default <dataDir>/conductor). */
        managed: z.boolean().default(true),
        dataDir: z.string().min(1).optional(),
        /** How the conductor process is controlled: a systemd unit, or commands (argument arrays).
         * Default for a managed conductor: the stand-in's own control CLI. */
        service: serviceSpec.optional(),
      })
      .strict()
      .prefault({}),
    dhtExport: z
      .object({
        /** Default: <dataDir>/backups/dht. */
        directory: z.string().min(1).optional(),
        schedule: clock.default('02:30'),
        retentionDays: z.number().int().min(1, { message: 'expected at least 1 day' }).max(3650).default(30),
        /** Credits per export/import zome call. */
        pageSize: z.number().int().min(1).max(10_000).default(2000),
      })
      .strict()
      .prefault({}),
    configBackup: z
      .object({
        /** The configuration files to archive (the runbook's: application, monitoring, conductor).
         * Default in the sandbox: this configuration file and the generated monitoring configs. */
        files: z.array(z.string().min(1)).min(1).optional(),
        /** Default: <dataDir>/backups/config. */
        directory: z.string().min(1).optional(),
        schedule: clock.default('02:45'),
        retentionDays: z.number().int().min(1).max(3650).default(30),
      })
      .strict()
      .prefault({}),
    disasterRecovery: z
      .object({
        /** Provisions the replacement infrastructure (argument array). Default in the sandbox: start
         * the database and conductor services (a wiped cluster is initialised, a wiped conductor
         * starts empty). */
        provision: command.optional(),
        /** Refuse to start without a verified configuration backup. */
        requireConfigBackup: z.boolean().default(true),
        /** The monthly DR drill: day of the month and time (in `timezone`). */
        drillDayOfMonth: z.number().int().min(1).max(28).default(1),
        drillTime: clock.default('05:00'),
        /** The drill's isolated environment: its own cluster port and conductor admin port. */
        drillPostgresPort: port.default(55499),
        drillConductorPort: port.default(18899),
        /** How the drill starts and stops its scratch cluster and conductor. Default in the sandbox:
         * the sandbox's own cluster and stand-in; required in production. */
        drill: z.object({ database: drillService, conductor: drillService }).strict().optional(),
      })
      .strict()
      .prefault({}),
    logRotation: z
      .object({
        schedule: clock.default('03:00'),
        /** Rotated files kept per log (compressed). */
        keep: z.number().int().min(1).max(365).default(7),
        /** The logs to rotate, each with how its writer is told to reopen it (a signal to the pid
         * in pidFile, or a command). Default in the sandbox: the simulator's app.log and monitor.log. */
        files: z
          .array(
            z
              .object({
                path: z.string().min(1),
                pidFile: z.string().min(1).optional(),
                /** Signalled only if the pid's command line contains this (required with pidFile):
                 * a stale or rewritten pid file must not make rotation signal another process. */
                expectCommand: z.string().min(1).max(200).optional(),
                signal: z.enum(['SIGHUP', 'SIGUSR1', 'SIGUSR2']).default('SIGHUP'),
                reopen: command.optional(),
              })
              .strict()
              .refine((f) => !f.pidFile || f.expectCommand, { message: 'expected expectCommand (a part of the writer\'s command line) with pidFile', path: ['expectCommand'] }),
          )
          .optional(),
      })
      .strict()
      .prefault({}),
    metricsCleanup: z
      .object({
        schedule: clock.default('04:00'),
        /** Reports (post-mortems, reviews, drills, reconciliation tasks) older than this go. */
        reportsRetentionDays: z.number().int().min(1).max(3650).default(90),
        /** Health-check storage samples older than this go. */
        samplesRetentionDays: z.number().int().min(1).max(365).default(2),
      })
      .strict()
      .prefault({}),
    reviews: z
      .object({
        /** Monday, Wednesday and Friday reviews, and the monthly ones on this day. */
        time: clock.default('08:00'),
        monthlyDay: z.number().int().min(1).max(28).default(1),
        /** Monday's security-update check: a command that lists pending updates without applying
         * them, one per line (default: apt's simulation; `nix flake update --dry-run` style
         * commands work too). Lines mentioning "security" are counted as security updates. */
        securityUpdateCommand: command.default(['apt-get', '-s', '-o', 'Debug::NoLocking=1', 'upgrade']),
        /** When the runbook itself was last reviewed (YYYY-MM-DD): the monthly checklist fails when
         * it is more than 31 days ago (the runbook's "Next review" a month on). */
        runbookReviewedOn: z.string().regex(/^\d{4}-\d{2}-\d{2}$/, { message: 'expected a date like 2025-10-01' }).optional(),
      })
      .strict()
      .prefault({}),
    scaling: z
      .object({
        /** The upgrade step of vertical-scale (e.g. a cloud CLI resizing the instance). Without it
         * the run waits for an operator's "upgraded" Update. */
        verticalUpgrade: command.optional(),
        /** Provisions a node for horizontal-scale; "{nodeId}" in an argument is replaced. Default in
         * the sandbox: the simulator's join command. */
        provisionNode: command.optional(),
        /** vertical-scale fails its verification when the average response time after the upgrade
         * exceeds the one before by more than this factor. */
        performanceTolerance: z.number().min(1).max(10).default(1.25),
      })
      .strict()
      .prefault({}),
    healthCheck: z
      .object({
        /** How often the built-in health check evaluates the KPI tables (down to seconds). */
        intervalSeconds: z.number().int().min(1).max(86_400).default(60),
        timeoutSeconds: z.number().positive().max(60).default(5),
        /** While a KPI stays breached, its alert is repeated to its incident at most this often
         * (the first breach and a change of level go out at once). */
        repeatSeconds: z.number().int().min(1).max(86_400).default(60),
      })
      .strict()
      .prefault({}),
    /** The runbook's KPI tables keep their thresholds unless overridden here. */
    kpi: kpiOverrides.default({}),
    monitoring: z
      .object({
        /** npm start runs Prometheus and Alertmanager (when installed) against the simulator. */
        managed: z.boolean().default(true),
        prometheusPort: port.default(19090),
        alertmanagerPort: port.default(19095),
        scrapeIntervalSeconds: z.number().int().min(1).max(300).default(5),
        evaluationIntervalSeconds: z.number().int().min(1).max(300).default(5),
        groupWaitSeconds: z.number().int().min(0).max(600).default(5),
        /** How often Alertmanager re-sends a firing alert (the receiver joins it to the open run). */
        repeatIntervalSeconds: z.number().int().min(1).max(86_400).default(300),
      })
      .strict()
      .prefault({}),
    escalation: z
      .object({
        /** Who each level reaches (the runbook's escalation path). */
        levels: z.array(z.string().min(1)).min(1).default(['on-call engineer', 'senior engineer', 'system architect']),
        /** Notifications are POSTed here (JSON) besides the log. It often holds a secret: write it
         * as ${env:NAME} (or put ${env:NAME} where the token goes) to keep it out of the file. */
        webhookUrl: z
          .string()
          .refine((u) => /^\$\{(env|file):[^}]+\}$/.test(u) || URL.canParse(u.replace(/\$\{(env|file):[^}]+\}/g, 'x')), { message: 'expected a URL, or a secret reference like ${env:RUNBOOK_WEBHOOK_URL}' })
          .optional(),
        /** An open incident reaches level 2 after this long (the runbook: 1 hour)... */
        level2AfterSeconds: z.number().int().min(1).default(3600),
        /** ...and level 3 after this long when critical (the runbook: 4 hours). */
        level3AfterSeconds: z.number().int().min(1).default(4 * 3600),
        /** The on-call rotation by role: level 1 pages the role of the incident's category, its
         * primary; a re-page reaches the backup too. */
        roles: z
          .record(plainRole, z.object({ primary: z.string().min(1).max(200), backup: z.string().min(1).max(200).optional() }).strict())
          .default({
            production: { primary: 'production engineer (primary)', backup: 'production engineer (backup)' },
            security: { primary: 'security engineer' },
            database: { primary: 'database admin (primary)', backup: 'database admin (backup)' },
          }),
        /** Alert or incident category -> role; a category not listed goes to the production role. */
        categories: z.record(z.string().min(1).max(100), plainRole).default({ security: 'security', database: 'database' }),
        /** An incident nobody acknowledged (runbook acknowledge) within this is paged again, to
         * the backup too, and after as long again escalated a level (the runbook: 15 minutes). */
        acknowledgeWithinSeconds: z.number().int().min(1).max(86_400).default(900),
      })
      .strict()
      .refine((e) => e.level3AfterSeconds >= e.level2AfterSeconds, { message: 'expected level3AfterSeconds to be at least level2AfterSeconds', path: ['level3AfterSeconds'] })
      .refine((e) => e.roles.production !== undefined, { message: 'expected a production role (the default for every category)', path: ['roles'] })
      .superRefine((e, ctx) => {
        for (const [category, role] of Object.entries(e.categories)) {
          if (!e.roles[role]) ctx.addIssue({ code: 'custom', path: ['categories', category], message: `expected one of the roles (${Object.keys(e.roles).join(', ')}), found ${role}` });
        }
      })
      .prefault({}),
    incident: z
      .object({
        /** How long verification waits for a healthy status report and new credits. */
        verifyTimeoutSeconds: z.number().int().min(1).max(3600).default(120),
        /** After a verified recovery, an alert-started incident stays open this long for the alert
         * to resolve, so the alert's repeats join it instead of opening a new incident. */
        alertResolveWaitSeconds: z.number().int().min(0).max(86_400).default(300),
        /** How long an incident's approval (a threshold change, a reputation restore) waits. */
        approvalTimeoutSeconds: z.number().int().min(1).default(4 * 3600),
        /** Open incidents and alert notifications continue as new before their history reaches
         * this many events (an alert's repeats are signals: one every check while it fires).
         * Temporal warns at 10,240 events and terminates a run at 51,200. */
        historyEventLimit: z.number().int().min(500).max(40_000).default(10_000),
        /** Post-mortems, reconciliation tasks and reports. Default: <dataDir>/reports. */
        reportsDirectory: z.string().min(1).optional(),
        /** incident-data-corruption may restore the latest backup without an approval. Off by
         * default: a restore replaces the live database (the pre-restore one is kept). */
        automaticRestore: z.boolean().default(false),
        /** How long incident-high-detection-activity watches the detections before its review. */
        detectionWatchSeconds: z.number().int().min(1).max(86_400).default(600),
      })
      .strict()
      .prefault({}),
    byzantine: z
      .object({
        /** The PoGQ threshold the application should run with (detection_settings). */
        pogqThreshold: z.number().gt(0).lt(1).default(0.5),
      })
      .strict()
      .prefault({}),
    receiver: z
      .object({
        port: port.default(19093),
        /** Bearer token Alertmanager sends; RUNBOOK_RECEIVER_TOKEN overrides. Required to start it. */
        token: z.string().min(16, { message: 'expected a token of at least 16 characters' }).optional(),
        /** Alert name -> runbook. Alerts without a route go to alert-notification (notify, escalate). */
        routes: z
          .record(
            z.string().min(1).max(200),
            z.string().refine((v): boolean => isRunbookName(v), { message: `expected a runbook name (${Object.keys(runbookWorkflows).join(', ')})` }),
          )
          .default(defaultRoutes),
        maxBodyBytes: z.number().int().min(1024).default(1024 * 1024),
      })
      .strict()
      .prefault({}),
    /** The hosts the runbooks act on, and what each one is for. Every step that touches a host runs
     * on that host's own task queue (<taskQueue>@<host>), served by `runbook worker --host NAME`
     * there; orchestration stays on the shared queue. A role with no host runs on the shared queue
     * (the sandbox: one machine, one worker). */
    hosts: z
      .record(
        z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/, { message: 'expected a host name of letters, digits, _ . - (starting with a letter or digit)' }),
        z.object({ roles: z.array(z.enum(hostRoles, { message: `expected roles among ${hostRoles.join(', ')}` })).min(1) }).strict(),
      )
      .superRefine((hosts, ctx) => {
        const seen = new Map<string, string>();
        for (const [host, h] of Object.entries(hosts)) {
          for (const role of h.roles) {
            const other = seen.get(role);
            if (other && other !== host) ctx.addIssue({ code: 'custom', path: [host, 'roles'], message: `expected each role on one host: ${role} is on ${other} and ${host}` });
            seen.set(role, host);
          }
        }
      })
      .default({}),
    remediation: z
      .object({
        /** Automatic restarts of one service (application, database, conductor) allowed per window
         * across all incidents; the next one opens the service's circuit breaker: the incident
         * escalates with the evidence, and `runbook breaker reset <service>` closes it again. */
        restartBudget: z
          .object({ max: z.number().int().min(0).max(1000).default(3), windowSeconds: z.number().int().min(60).max(7 * 86_400).default(3600) })
          .strict()
          .prefault({}),
      })
      .strict()
      .prefault({}),
    approvals: z
      .object({
        /** When set, only these identities may approve or reject. */
        approvers: z.array(identity).min(1).optional(),
        /** Distinct approvals a production step needs (2: the two-person rule). */
        required: z.number().int().min(1).max(5).default(1),
        /** Where the CLI takes the operator's identity from: RUNBOOK_IDENTITY, else the OS user
         * (environment), or the OS user only (os-user: what production should use). */
        identity: z.enum(['environment', 'os-user']).default('environment'),
      })
      .strict()
      .prefault({}),
    worker: z
      .object({
        /** Prometheus metrics of the worker (0 turns them off). */
        metricsPort: z.number().int().min(0).max(65535).default(19464),
      })
      .strict()
      .prefault({}),
  })
  .strict()
  .superRefine((c, ctx) => {
    if (!c.production) return;
    // Production runs against real hosts: a sandbox part there would launch the simulator against
    // the production database or start a stand-in conductor.
    for (const part of ['database', 'conductor', 'application', 'monitoring'] as const) {
      if (c[part].managed) {
        ctx.addIssue({ code: 'custom', path: [part, 'managed'], message: `expected false in a production configuration (production: true): a managed ${part} is a sandbox part` });
      }
    }
    if (!c.database.production) ctx.addIssue({ code: 'custom', path: ['database', 'production'], message: 'expected true in a production configuration (destructive steps wait for approvals)' });
  });

export type Config = z.infer<typeof configSchema>;
