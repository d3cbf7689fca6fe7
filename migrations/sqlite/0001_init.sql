-- The first schema of Seedbed: accounts, apps and their stages, and the path
-- of a change (builds, artifacts, releases, deploys) with its log lines.
CREATE TABLE users (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    email         TEXT    NOT NULL UNIQUE,
    password_hash TEXT    NOT NULL,
    is_admin      BOOLEAN NOT NULL DEFAULT FALSE,
    created_at    DATETIME NOT NULL
);

CREATE TABLE api_tokens (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    user_id      INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name         TEXT    NOT NULL,
    hash         TEXT    NOT NULL UNIQUE,
    prefix       TEXT    NOT NULL,
    created_at   DATETIME NOT NULL,
    last_used_at DATETIME,
    revoked_at   DATETIME
);

CREATE TABLE sessions (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    token_hash TEXT    NOT NULL UNIQUE,
    user_id    INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    csrf_token TEXT    NOT NULL,
    user_agent TEXT    NOT NULL DEFAULT '',
    created_at DATETIME NOT NULL,
    expires_at DATETIME NOT NULL
);

CREATE TABLE apps (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    name       TEXT NOT NULL UNIQUE,
    repo_url   TEXT NOT NULL,
    branch     TEXT NOT NULL,
    deploy_key TEXT NOT NULL DEFAULT '',
    created_at DATETIME NOT NULL
);

CREATE TABLE builds (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    app_id         INTEGER NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    ref            TEXT NOT NULL,
    commit_sha     TEXT NOT NULL DEFAULT '',
    commit_message TEXT NOT NULL DEFAULT '',
    commit_author  TEXT NOT NULL DEFAULT '',
    status         TEXT NOT NULL,
    error          TEXT NOT NULL DEFAULT '',
    trigger_kind TEXT NOT NULL,
    triggered_by   TEXT NOT NULL DEFAULT '',
    created_at     DATETIME NOT NULL,
    started_at     DATETIME,
    finished_at    DATETIME
);
CREATE INDEX builds_app_id ON builds(app_id, id);
CREATE INDEX builds_status ON builds(status);

CREATE TABLE artifacts (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    build_id   INTEGER NOT NULL REFERENCES builds(id) ON DELETE CASCADE,
    service    TEXT NOT NULL,
    function   TEXT NOT NULL,
    digest     TEXT NOT NULL,
    size       INTEGER NOT NULL,
    created_at DATETIME NOT NULL
);
CREATE INDEX artifacts_build_id ON artifacts(build_id);
CREATE INDEX artifacts_digest ON artifacts(digest);

CREATE TABLE releases (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    app_id     INTEGER NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    build_id   INTEGER NOT NULL REFERENCES builds(id) ON DELETE CASCADE,
    manifest   TEXT NOT NULL,
    created_at DATETIME NOT NULL
);
CREATE UNIQUE INDEX releases_build_id ON releases(build_id);

CREATE TABLE stages (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    app_id          INTEGER NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    name            TEXT NOT NULL,
    position        INTEGER NOT NULL,
    branch          TEXT NOT NULL DEFAULT '',
    live_release_id INTEGER REFERENCES releases(id) ON DELETE SET NULL,
    live_deploy_id  INTEGER,
    lock_owner      TEXT NOT NULL DEFAULT '',
    lock_expires_at DATETIME,
    created_at      DATETIME NOT NULL,
    UNIQUE (app_id, name)
);

CREATE TABLE deploys (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    app_id      INTEGER NOT NULL REFERENCES apps(id) ON DELETE CASCADE,
    stage_id    INTEGER NOT NULL REFERENCES stages(id) ON DELETE CASCADE,
    build_id    INTEGER REFERENCES builds(id) ON DELETE SET NULL,
    release_id  INTEGER REFERENCES releases(id) ON DELETE SET NULL,
    status      TEXT NOT NULL,
    trigger_kind TEXT NOT NULL,
    triggered_by TEXT NOT NULL DEFAULT '',
    change_set  TEXT NOT NULL DEFAULT '',
    error       TEXT NOT NULL DEFAULT '',
    created_at  DATETIME NOT NULL,
    started_at  DATETIME,
    finished_at DATETIME
);
CREATE INDEX deploys_stage_id ON deploys(stage_id, id);
CREATE INDEX deploys_status ON deploys(status);
CREATE INDEX deploys_build_id ON deploys(build_id);

CREATE TABLE log_lines (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    owner_kind TEXT    NOT NULL,
    owner_id   INTEGER NOT NULL,
    stream     TEXT    NOT NULL DEFAULT '',
    text       TEXT    NOT NULL,
    created_at DATETIME NOT NULL
);
CREATE INDEX log_lines_owner ON log_lines(owner_kind, owner_id, id);
