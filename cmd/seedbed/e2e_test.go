package main

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The path everything stands on: repo → build → deploy → live function,
// then an update with no failed request, then a removal; on both backends.
func TestDeployEndToEnd(t *testing.T) {
	for _, be := range []backend{embedded, servers} {
		t.Run(be.name, func(t *testing.T) {
			a := startApp(t, be)
			repo := a.newAppRepo("shop")

			d := a.mustDeploy("shop", "dev", "")
			if d.ChangeSet == nil || len(d.ChangeSet.Functions) != 1 || d.ChangeSet.Functions[0].Kind != "add" {
				t.Fatalf("first deploy's change set = %+v, want one added function", d.ChangeSet)
			}
			if code, body := a.get("/shop/dev/hello"); code != 200 || body != "v1 hi /hello" {
				t.Fatalf("GET /shop/dev/hello = %d %q, want 200 \"v1 hi /hello\"", code, body)
			}
			if code, body := a.get("/shop/dev/hello/ada?x=1"); code != 200 || body != "v1 hi /hello/ada" {
				t.Fatalf("GET /shop/dev/hello/ada = %d %q", code, body)
			}
			if code, body := httpGet(t, a.gateway+"/hello", "dev--shop.localhost"); code != 200 || body != "v1 hi /hello" {
				t.Fatalf("host-routed GET /hello = %d %q", code, body)
			}
			if code, _ := a.get("/shop/staging/hello"); code != 404 {
				t.Fatalf("an undeployed stage answered %d, want 404", code)
			}

			// Update while a client loops requests: none may fail.
			repo.Commit("second version", map[string]string{"services/api/main.go": goFunction("v2")})
			var failures, v1, v2 atomic.Int64
			var firstFailure atomic.Value
			stop := make(chan struct{})
			var wg sync.WaitGroup
			wg.Add(1)
			go func() {
				defer wg.Done()
				client := &http.Client{Timeout: 5 * time.Second}
				for {
					select {
					case <-stop:
						return
					default:
					}
					resp, err := client.Get(a.gateway + "/shop/dev/hello")
					if err != nil {
						failures.Add(1)
						firstFailure.CompareAndSwap(nil, err.Error())
						continue
					}
					raw, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					body := string(raw)
					switch {
					case resp.StatusCode != 200:
						failures.Add(1)
						firstFailure.CompareAndSwap(nil, resp.Status+" "+body)
					case strings.HasPrefix(body, "v1"):
						v1.Add(1)
					case strings.HasPrefix(body, "v2"):
						v2.Add(1)
					}
				}
			}()
			d = a.mustDeploy("shop", "dev", "")
			time.Sleep(300 * time.Millisecond)
			close(stop)
			wg.Wait()
			if failures.Load() > 0 {
				t.Fatalf("%d requests failed during the switch (first: %v); %d answered v1, %d v2", failures.Load(), firstFailure.Load(), v1.Load(), v2.Load())
			}
			if v1.Load() == 0 || v2.Load() == 0 {
				t.Fatalf("the loop saw %d v1 and %d v2 answers; want both", v1.Load(), v2.Load())
			}
			t.Logf("during the switch: %d answers from v1, %d from v2, 0 failures", v1.Load(), v2.Load())
			if cs := d.ChangeSet; cs == nil || len(cs.Functions) != 1 || cs.Functions[0].Kind != "change" {
				t.Fatalf("update's change set = %+v, want one changed function", cs)
			}

			// Remove the function from seedbed.yml: its route answers 404.
			repo.Commit("replace hello with bye", map[string]string{"seedbed.yml": stackFile(`      bye:
        routes: ["GET /bye"]
`)})
			d = a.mustDeploy("shop", "dev", "main")
			kinds := map[string]string{}
			for _, f := range d.ChangeSet.Functions {
				kinds[f.Key] = f.Kind
			}
			if kinds["api/hello"] != "remove" || kinds["api/bye"] != "add" {
				t.Fatalf("change set kinds = %v, want api/hello removed and api/bye added", kinds)
			}
			if code, _ := a.get("/shop/dev/hello"); code != 404 {
				t.Fatalf("removed function answered %d, want 404", code)
			}
			if code, body := a.get("/shop/dev/bye"); code != 200 || !strings.HasPrefix(body, "v2") {
				t.Fatalf("GET /bye = %d %q", code, body)
			}
		})
	}
}

// A broken seedbed.yml fails the build with every problem and its line, and
// the stage keeps serving what it served.
func TestBrokenStackFileKeepsStageServing(t *testing.T) {
	t.Parallel()
	a := startApp(t, embedded)
	repo := a.newAppRepo("broken")
	a.mustDeploy("broken", "dev", "")

	repo.Commit("break the stack file", map[string]string{"seedbed.yml": `services:
  api:
    path: services/api
    runtime: rust
    functions:
      hello:
        routes: ["GET /hello"]
  web:
    path: services/api
    runtime: process
    functions:
      page:
        routes: ["GET /hello"]
`})
	d, b := a.deploy("broken", "dev", "")
	if b.Status != "failed" || d.Status != "failed" {
		t.Fatalf("build %s, deploy %s; want both failed", b.Status, d.Status)
	}
	log := a.logText("build", b.ID)
	for _, want := range []string{`seedbed.yml:4`, `rust`, `seedbed.yml:13`, `GET /hello`, `seedbed.yml:12`, `handler`} {
		if !strings.Contains(log, want) {
			t.Errorf("build log lacks %q:\n%s", want, log)
		}
	}
	if code, body := a.get("/broken/dev/hello"); code != 200 || body != "v1 hi /hello" {
		t.Fatalf("after the failed build the stage answered %d %q, want the previous release", code, body)
	}

	repo.Commit("bad yaml", map[string]string{"seedbed.yml": "services:\n  api: [unclosed\n"})
	_, b = a.deploy("broken", "dev", "")
	if b.Status != "failed" || !strings.Contains(a.logText("build", b.ID), "seedbed.yml:") {
		t.Fatalf("bad YAML: build %s, log:\n%s", b.Status, a.logText("build", b.ID))
	}
}

// A function that exits right after it starts fails the deploy with its
// last output, and the previous release keeps serving.
func TestCrashingFunctionFailsDeploy(t *testing.T) {
	t.Parallel()
	a := startApp(t, embedded)
	repo := a.newAppRepo("crashy")
	a.mustDeploy("crashy", "dev", "")

	repo.Commit("crash at start", map[string]string{"services/api/main.go": `package main

import (
	"fmt"
	"os"
)

func main() {
	fmt.Println("loading config")
	fmt.Fprintln(os.Stderr, "fatal: DATABASE_URL is not set")
	os.Exit(3)
}
`})
	d, b := a.deploy("crashy", "dev", "")
	if b.Status != "succeeded" || d.Status != "failed" {
		t.Fatalf("build %s, deploy %s; want the build to succeed and the deploy to fail", b.Status, d.Status)
	}
	for _, want := range []string{"api/hello", "DATABASE_URL is not set"} {
		if !strings.Contains(d.Error, want) {
			t.Errorf("deploy error %q lacks %q", d.Error, want)
		}
	}
	if code, body := a.get("/crashy/dev/hello"); code != 200 || body != "v1 hi /hello" {
		t.Fatalf("after the failed deploy the stage answered %d %q, want the previous release", code, body)
	}
	app, err := a.api.App(context.Background(), "crashy")
	if err != nil {
		t.Fatal(err)
	}
	if live := app.Stages[0].LiveRelease; live == nil || live.BuildID == b.ID {
		t.Fatalf("dev's live release = %+v; want the previous build's", live)
	}
}
