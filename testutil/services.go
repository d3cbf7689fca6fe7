// Package testutil holds the helpers Seedbed's tests share: real PostgreSQL
// databases and Redis databases per test, Git repositories made with the
// real git client, and the Go caches that keep test builds fast.
//
// A test that needs a service it cannot reach is skipped on a developer's
// machine, and fails when CI=true: in CI a missing service is a failure,
// never a skip.
package testutil

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the driver behind gorm's postgres dialect
	"github.com/redis/go-redis/v9"
)

// Unavailable skips t because a service is missing, or fails it under CI.
func Unavailable(t testing.TB, what string, err error) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("CI=true but %s is not available: %v", what, err)
	}
	t.Skipf("%s is not available (%v); set CI=true to make this a failure", what, err)
}

// PostgresAdminURL is the server tests make their databases on.
func PostgresAdminURL() string {
	if u := os.Getenv("SEEDBED_TEST_POSTGRES_URL"); u != "" {
		return u
	}
	return "postgres://postgres:postgres@127.0.0.1:5432/test?sslmode=disable"
}

// PostgresURL creates an empty database for t and returns its URL; the
// database is dropped when t ends.
func PostgresURL(t testing.TB) string {
	t.Helper()
	admin := PostgresAdminURL()
	db, err := sql.Open("pgx", admin)
	if err != nil {
		Unavailable(t, "PostgreSQL at "+admin, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		Unavailable(t, "PostgreSQL at "+admin, err)
	}
	name := "seedbed_test_" + randomHex(6)
	if _, err := db.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		db.Close()
		t.Fatalf("create database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if _, err := db.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			t.Logf("drop database %s: %v", name, err)
		}
		db.Close()
	})
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatalf("parse %s: %v", admin, err)
	}
	u.Path = "/" + name
	return u.String()
}

// RedisServerURL is the Redis server tests use.
func RedisServerURL() string {
	if u := os.Getenv("SEEDBED_TEST_REDIS_URL"); u != "" {
		return strings.TrimRight(u, "/")
	}
	return "redis://127.0.0.1:6379"
}

// RedisURL claims one of Redis's numbered databases (1–15) for t, empties
// it, and returns its URL. Test packages run in parallel, so the claim is a
// key with a lease in database 0; it is given back when t ends.
func RedisURL(t testing.TB) string {
	t.Helper()
	base := RedisServerURL()
	opt, err := redis.ParseURL(base + "/0")
	if err != nil {
		t.Fatalf("parse %s: %v", base, err)
	}
	ctrl := redis.NewClient(opt)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := ctrl.Ping(ctx).Err(); err != nil {
		ctrl.Close()
		Unavailable(t, "Redis at "+base, err)
	}
	owner := randomHex(8)
	for {
		for n := 1; n <= 15; n++ {
			key := fmt.Sprintf("seedbed-test:claim:%d", n)
			ok, err := ctrl.SetNX(ctx, key, owner, 15*time.Minute).Result()
			if err != nil {
				ctrl.Close()
				t.Fatalf("claim a Redis database: %v", err)
			}
			if !ok {
				continue
			}
			u := fmt.Sprintf("%s/%d", base, n)
			o, _ := redis.ParseURL(u)
			c := redis.NewClient(o)
			if err := c.FlushDB(ctx).Err(); err != nil {
				t.Fatalf("empty Redis database %d: %v", n, err)
			}
			t.Cleanup(func() {
				ctx := context.Background()
				c.FlushDB(ctx)
				c.Close()
				if v, _ := ctrl.Get(ctx, key).Result(); v == owner {
					ctrl.Del(ctx, key)
				}
				ctrl.Close()
			})
			return u
		}
		select {
		case <-ctx.Done():
			t.Fatalf("no free Redis database for this test after 2 minutes")
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b)
}
