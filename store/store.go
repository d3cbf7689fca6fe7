// Package store keeps Seedbed's state: gorm models and the queries the rest
// of the program runs against them, on SQLite (the embedded default) or
// PostgreSQL. The schema itself comes from the migrations package; gorm's
// AutoMigrate is never used.
//
// Every lookup that finds nothing returns an error wrapping ErrNotFound.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/glebarez/sqlite"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
	"gorm.io/plugin/dbresolver"

	"github.com/seedbed/seedbed/migrations"
)

// ErrNotFound is wrapped by every lookup that finds nothing.
var ErrNotFound = errors.New("not found")

// ErrConflict is wrapped when a write would break a uniqueness rule.
var ErrConflict = errors.New("already exists")

// Store is the database. It is safe for concurrent use.
type Store struct {
	db      *gorm.DB
	dialect migrations.Dialect
	readers *sql.DB // SQLite's read-only connections, or nil
	// reads is where hand-written reads go (see query): the SQLite
	// readers, or PostgreSQL's pool.
	reads    *sql.DB
	overview overviewCache
}

// Open connects to the database named by url and applies pending migrations.
// A url starting with postgres:// or postgresql:// selects PostgreSQL;
// anything else is a path to a SQLite file, created if missing.
func Open(ctx context.Context, url string) (*Store, error) {
	cfg := &gorm.Config{
		Logger:  logger.Discard,
		NowFunc: func() time.Time { return time.Now().UTC() },
		// Our own transactions are explicit; single writes need none.
		SkipDefaultTransaction: true,
	}
	var (
		db      *gorm.DB
		err     error
		dialect migrations.Dialect
	)
	if strings.HasPrefix(url, "postgres://") || strings.HasPrefix(url, "postgresql://") {
		dialect = migrations.Postgres
		db, err = gorm.Open(postgres.Open(url), cfg)
		if err != nil {
			return nil, fmt.Errorf("open postgres: %w", err)
		}
	} else {
		dialect = migrations.SQLite
		path := strings.TrimPrefix(url, "sqlite://")
		if dir := filepath.Dir(path); dir != "" {
			if err := os.MkdirAll(dir, 0o700); err != nil {
				return nil, fmt.Errorf("open sqlite %s: %w", path, err)
			}
		}
		// The database holds password hashes, tokens and sealed secrets:
		// readable by Seedbed alone. SQLite makes its -wal and -shm files
		// with the database's mode.
		if plainFile := path != ":memory:" && !strings.HasPrefix(path, "file:") && !strings.Contains(path, "?"); plainFile {
			if f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600); err == nil {
				f.Close()
			} else if !errors.Is(err, os.ErrExist) {
				return nil, fmt.Errorf("open sqlite %s: %w", path, err)
			}
		}
		// WAL lets readers run beside the writer; the busy timeout and a
		// single connection keep concurrent workers from "database is locked".
		dsn := path + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)"
		db, err = gorm.Open(sqlite.Open(dsn), cfg)
		if err != nil {
			return nil, fmt.Errorf("open sqlite %s: %w", path, err)
		}
	}
	sqlDB, err := db.DB()
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	if dialect == migrations.SQLite {
		sqlDB.SetMaxOpenConns(1)
	} else {
		// As many kept idle as may be open: with database/sql's default of
		// two, a burst of page views closes and reopens connections.
		sqlDB.SetMaxOpenConns(20)
		sqlDB.SetMaxIdleConns(20)
	}
	if err := sqlDB.PingContext(ctx); err != nil {
		sqlDB.Close()
		return nil, fmt.Errorf("connect to database: %w", err)
	}
	if _, err := migrations.Apply(ctx, sqlDB, dialect); err != nil {
		sqlDB.Close()
		return nil, err
	}
	st := &Store{db: db, dialect: dialect, reads: sqlDB}
	if dialect == migrations.SQLite {
		// Writes keep their single connection; reads get a small pool of
		// read-only connections beside it (WAL lets them run during a
		// write), so console pages do not queue behind each other.
		path := strings.TrimPrefix(url, "sqlite://")
		readers, err := sql.Open("sqlite", path+"?_pragma=busy_timeout(10000)&_pragma=query_only(1)&_pragma=foreign_keys(1)")
		if err != nil {
			sqlDB.Close()
			return nil, fmt.Errorf("open sqlite readers %s: %w", path, err)
		}
		readers.SetMaxOpenConns(4)
		readers.SetMaxIdleConns(4) // a reopened connection starts with a cold page cache
		if err := db.Use(dbresolver.Register(dbresolver.Config{Replicas: []gorm.Dialector{sqlite.Dialector{Conn: readers}}})); err != nil {
			readers.Close()
			sqlDB.Close()
			return nil, fmt.Errorf("open sqlite readers %s: %w", path, err)
		}
		st.readers, st.reads = readers, readers
	}
	return st, nil
}

// Dialect tells which database the store runs on.
func (s *Store) Dialect() migrations.Dialect { return s.dialect }

// Close releases the database connections.
func (s *Store) Close() error {
	if s.readers != nil {
		s.readers.Close()
	}
	sqlDB, err := s.db.DB()
	if err != nil {
		return err
	}
	return sqlDB.Close()
}

// Ping checks the database answers.
func (s *Store) Ping(ctx context.Context) error {
	sqlDB, err := s.db.DB()
	if err != nil {
		return err
	}
	return sqlDB.PingContext(ctx)
}

func notFound(err error, what string, args ...any) error {
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return fmt.Errorf(what+": %w", append(args, ErrNotFound)...)
	}
	return fmt.Errorf(what+": %w", append(args, err)...)
}

func isUniqueViolation(err error) bool {
	if err == nil {
		return false
	}
	msg := err.Error()
	return strings.Contains(msg, "UNIQUE constraint failed") || strings.Contains(msg, "duplicate key value") || strings.Contains(msg, "SQLSTATE 23505")
}
