-- Custom domains (docs/domains.md): the host names a stage answers on, with
-- the state of their certificate; a name belongs to one stage only.
-- tls_objects is certmagic's key-value storage (certificates, keys, ACME
-- accounts) kept in the database so every Seedbed process shares it;
-- tls_locks are its named locks, held until expires_at unless renewed.
CREATE TABLE domains (
    id              BIGSERIAL PRIMARY KEY,
    name            TEXT NOT NULL UNIQUE,
    app_id          BIGINT NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    stage_id        BIGINT NOT NULL REFERENCES stages(id) ON DELETE CASCADE,
    status          TEXT NOT NULL DEFAULT 'pending',
    dns_status      TEXT NOT NULL DEFAULT 'unknown',
    dns_addrs       TEXT NOT NULL DEFAULT '',
    dns_checked_at  TIMESTAMPTZ,
    cert_issued_at  TIMESTAMPTZ,
    cert_expires_at TIMESTAMPTZ,
    last_error      TEXT NOT NULL DEFAULT '',
    last_error_at   TIMESTAMPTZ,
    created_by      TEXT NOT NULL DEFAULT '',
    created_at      TIMESTAMPTZ NOT NULL
);
CREATE INDEX domains_stage ON domains(stage_id);
CREATE TABLE tls_objects (
    key         TEXT COLLATE "C" PRIMARY KEY,
    value       BYTEA NOT NULL,
    modified_at TIMESTAMPTZ NOT NULL
);
CREATE TABLE tls_locks (
    name       TEXT PRIMARY KEY,
    owner      TEXT NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL
);
