-- The credits database of the Zero-TrustML Credits system, as the sandbox creates it. It uses what
-- a restore must bring back besides rows: enum types, sequences, indexes, a function, a view and a
-- trigger.
CREATE TYPE credit_event_type AS ENUM ('quality_gradient', 'byzantine_detection', 'peer_validation', 'network_contribution');
CREATE TYPE reputation_level AS ENUM ('blacklisted', 'critical', 'warning', 'normal', 'trusted', 'elite');

CREATE TABLE nodes (
  node_id      text PRIMARY KEY,
  reputation   reputation_level NOT NULL DEFAULT 'normal',
  is_validator boolean NOT NULL DEFAULT false,
  healthy      boolean NOT NULL DEFAULT true,
  joined_at    timestamptz NOT NULL,
  last_seen_at timestamptz NOT NULL
);

CREATE TABLE credits (
  id           bigserial PRIMARY KEY,
  credit_id    text NOT NULL UNIQUE,
  holder       text NOT NULL REFERENCES nodes (node_id),
  amount       numeric(14, 2) NOT NULL CHECK (amount >= 0),
  event_type   credit_event_type NOT NULL,
  earned_from  text NOT NULL,
  pogq_score   real CHECK (pogq_score IS NULL OR pogq_score BETWEEN 0 AND 1),
  verifiers    text[] NOT NULL DEFAULT '{}',
  response_ms  integer NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX credits_holder_idx ON credits (holder);
CREATE INDEX credits_created_at_idx ON credits (created_at);

CREATE TABLE byzantine_detections (
  id          bigserial PRIMARY KEY,
  detector_id text NOT NULL REFERENCES nodes (node_id),
  detected_id text NOT NULL REFERENCES nodes (node_id),
  evidence    jsonb NOT NULL,
  detected_at timestamptz NOT NULL
);
CREATE INDEX byzantine_detections_detected_at_idx ON byzantine_detections (detected_at);

CREATE TABLE audit_trail (
  id        bigserial PRIMARY KEY,
  credit_id text NOT NULL,
  action    text NOT NULL,
  actor     text NOT NULL,
  details   jsonb NOT NULL DEFAULT '{}',
  at        timestamptz NOT NULL
);
CREATE INDEX audit_trail_credit_id_idx ON audit_trail (credit_id);

CREATE FUNCTION holder_balance(p_holder text) RETURNS numeric
  LANGUAGE sql STABLE
  AS $$ SELECT coalesce(sum(amount), 0) FROM credits WHERE holder = p_holder $$;

CREATE VIEW balances AS
  SELECT holder, sum(amount) AS balance, count(*) AS credits FROM credits GROUP BY holder;

CREATE FUNCTION audit_credit_issued() RETURNS trigger
  LANGUAGE plpgsql
  AS $$
BEGIN
  INSERT INTO audit_trail (credit_id, action, actor, details, at)
  VALUES (NEW.credit_id, 'issued', NEW.earned_from, jsonb_build_object('amount', NEW.amount, 'event_type', NEW.event_type), NEW.created_at);
  RETURN NEW;
END $$;
CREATE TRIGGER credits_audit AFTER INSERT ON credits FOR EACH ROW EXECUTE FUNCTION audit_credit_issued();

-- The application's Byzantine detection settings: a node's gradient is flagged when its PoGQ score
-- falls below pogq_threshold. The detection-failure runbook reads and (after approval) sets it.
CREATE TABLE IF NOT EXISTS detection_settings (
  key        text PRIMARY KEY,
  value      double precision NOT NULL,
  updated_at timestamptz NOT NULL DEFAULT now(),
  updated_by text NOT NULL DEFAULT 'install'
);
INSERT INTO detection_settings (key, value) VALUES ('pogq_threshold', 0.5) ON CONFLICT (key) DO NOTHING;
