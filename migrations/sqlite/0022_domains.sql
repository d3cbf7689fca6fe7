-- Custom domains (docs/domains.md): the host names a stage answers on, with
-- the state of their certificate; a name belongs to one stage only.
-- tls_objects is certmagic's key-value storage (certificates, keys, ACME
-- accounts) kept in the database so every Seedbed process shares it;
-- tls_locks are its named locks, held until expires_at unless renewed.
CREATE TABLE domains (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    name            TEXT NOT NULL UNIQUE,
    app_id          INTEGER NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    stage_id        INTEGER NOT NULL REFERENCES stages(id) ON DELETE CASCADE,
    status          TEXT NOT NULL DEFAULT 'pending',
    dns_status      TEXT NOT NULL DEFAULT 'unknown',
    dns_addrs       TEXT NOT NULL DEFAULT '',
    dns_checked_at  DATETIME,
    cert_issued_at  DATETIME,
    cert_expires_at DATETIME,
    last_error      TEXT NOT NULL DEFAULT '',
    last_error_at   DATETIME,
    created_by      TEXT NOT NULL DEFAULT '',
    created_at      DATETIME NOT NULL
);
CREATE INDEX domains_stage ON domains(stage_id);
CREATE TABLE tls_objects (
    key         TEXT PRIMARY KEY,
    value       BLOB NOT NULL,
    modified_at DATETIME NOT NULL
);
CREATE TABLE tls_locks (
    name       TEXT PRIMARY KEY,
    owner      TEXT NOT NULL,
    expires_at DATETIME NOT NULL
);
