package main

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/seedbed/seedbed/testutil"
	"github.com/seedbed/seedbed/web/apiv1"
)

// `seedbed serve --builds=false` beside a `seedbed worker` on the same
// PostgreSQL, Redis and data dir: only the worker can build, so a deploy
// that goes live proves the work crossed processes.
func TestWorkerBuildsForServe(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	db, redis := testutil.PostgresURL(t), testutil.RedisURL(t)
	serveCfg := Config{
		Addr: "127.0.0.1:0", GatewayAddr: "127.0.0.1:0", DataDir: dir, DatabaseURL: db, RedisURL: redis,
		Domain: "localhost", Workers: 2, AdminEmail: adminEmail, AdminPassword: adminPassword,
		BuildTimeout: 5 * time.Minute, BuildEnv: testutil.GoEnv(t), Deploys: true, Builds: false,
	}
	a := bootApp(t, serveCfg)

	workerCfg := serveCfg
	workerCfg.Deploys, workerCfg.Builds, workerCfg.NodeID = false, true, "worker-1"
	if err := workerCfg.finish(nil); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	worker, err := NewApp(ctx, workerCfg, slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { worker.Close(ctx) })

	a.newAppRepo("split")
	resp, err := a.api.Deploy(ctx, "split", apiv1.DeployRequest{Stage: "dev"})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second)
	if b, _ := a.api.Build(ctx, resp.Build.ID); b.Status != "queued" {
		t.Fatalf("with no worker running, the build is %s; serve --builds=false must not build", b.Status)
	}
	if err := worker.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if d := a.waitDeploy(resp.Deploy.ID); d.Status != "succeeded" {
		t.Fatalf("deploy %s: %s", d.Status, d.Error)
	}
	if code, body := a.get("/split/dev/hello"); code != 200 || body != "v1 hi /hello" {
		t.Fatalf("after a worker's build: %d %q", code, body)
	}
}
