// `runbook init [--production]`: writes a configuration to start from. The sandbox's is what
// `npm start` runs. The production one has every sandbox part off and every host, service and
// secret marked "<fill in: …>": the configuration refuses to load until each is filled in, and
// names each one that is left.
import { existsSync, writeFileSync } from 'node:fs';
import { UsageError } from './errors';

export const sandboxTemplate = `# zerotrustml-runbooks configuration: the sandbox that \`npm start\` brings up.
# Every key is optional; the defaults are the runbook's. \`runbook init --production\` writes the
# production form.
dataDir: .data
timezone: UTC
`;

export const productionTemplate = `# zerotrustml-runbooks: production configuration (runbook init --production).
# Every sandbox part is off. Replace every "<fill in: ...>"; the configuration does not load while
# one is left, and says which. Secrets are never written here: \${env:NAME} (the service's
# EnvironmentFile) or \${file:/path} are resolved by the worker when they are used.
production: true
dataDir: /var/lib/zerotrustml-runbooks
timezone: UTC

temporal:
  address: "<fill in: the Temporal frontend, host:port (e.g. temporal.internal:7233)>"
  namespace: zerotrustml
  taskQueue: zerotrustml-runbooks

database:
  url: "<fill in: postgres://USER:\${env:RUNBOOK_DB_PASSWORD}@DB-HOST:5432/credits?sslmode=verify-full&sslrootcert=/etc/zerotrustml/pg-ca.pem>"
  managed: false
  production: true
  service: { type: systemd, unit: postgresql }

backup:
  directory: /var/backups/zerotrustml/postgres
  retentionDays: 30

dhtExport:
  directory: /var/backups/zerotrustml/dht

configBackup:
  directory: /var/backups/zerotrustml/config
  files:
    - /etc/zerotrustml/config.yaml
    - /etc/zerotrustml/monitoring.yaml
    - /etc/zerotrustml/runbooks.yaml
    - "<fill in: the conductor's conductor-config.yaml>"

conductor:
  managed: false
  adminUrl: "<fill in: the conductor's admin interface, ws://CONDUCTOR-HOST:8888>"
  appBundle: "<fill in: the zerotrustml .happ bundle, installed again after a wipe>"
  service:
    type: systemd
    unit: holochain
    clean: ["<fill in: the command that wipes the conductor's data (runs only after an approval and a verified export)>"]

application:
  managed: false
  statusUrl: "<fill in: the application's status report, http://APP-HOST:8000/status>"
  service: { type: systemd, unit: zerotrustml-credits }

logRotation:
  # Each log with how its writer reopens it: a pidFile with expectCommand, or a reopen command.
  files: []

disasterRecovery:
  provision: ["<fill in: the command that provisions replacement infrastructure>"]
  drill:
    database:
      start: ["<fill in: starts a scratch PostgreSQL cluster in {dir} on port {port}>"]
      stop: ["<fill in: stops it>"]
    conductor:
      start: ["<fill in: starts a scratch conductor with its data in {dir}, admin port {port}>"]
      stop: ["<fill in: stops it>"]

monitoring:
  managed: false

escalation:
  levels: [on-call engineer, senior engineer, system architect]
  webhookUrl: "\${env:RUNBOOK_WEBHOOK_URL}"

approvals:
  identity: os-user
  required: 1
`;

export function writeTemplate(file: string, o: { production?: boolean; force?: boolean }): string {
  if (existsSync(file) && !o.force) throw new UsageError(`${file} exists: refusing to overwrite it (--force replaces it)`);
  writeFileSync(file, o.production ? productionTemplate : sandboxTemplate, { mode: 0o600 });
  return file;
}
