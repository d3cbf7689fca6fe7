package gitremote

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestConcurrentPushesAcceptOnlyWhatLands pushes 10 different commits to
// main at once, each from its own clone and forced, with an OnPush that
// takes a while (as a build and deploy do). Every push OnPush accepts must
// be one git then applies, in the order OnPush accepted them: the last
// accepted commit is the one main points to, and no push that git reports
// as rejected was accepted. Before pushes were serialised, several OnPush
// calls ran at once and accepted pushes whose ref update then failed
// ("cannot lock ref").
func TestConcurrentPushesAcceptOnlyWhatLands(t *testing.T) {
	f := setup(t)
	remote := f.url("app", testToken)
	base := f.workRepo(t)
	f.mustGit(t, base, "push", "--quiet", remote, "main")

	var mu sync.Mutex
	var accepted []string // New of main, in the order OnPush accepted
	running, maxRunning := 0, 0
	f.setRespond(func(ctx context.Context, push Push, progress io.Writer) error {
		mu.Lock()
		running++
		maxRunning = max(maxRunning, running)
		mu.Unlock()
		defer func() {
			mu.Lock()
			running--
			mu.Unlock()
		}()
		fmt.Fprintln(progress, "Seedbed: deploying")
		select {
		case <-time.After(300 * time.Millisecond): // a deploy
		case <-ctx.Done():
			return ctx.Err()
		}
		mu.Lock()
		defer mu.Unlock()
		for _, u := range push.Updates {
			if u.Ref == "refs/heads/main" {
				accepted = append(accepted, u.New)
			}
		}
		return nil
	})

	const n = 10
	clones := make([]string, n)
	commits := make([]string, n)
	for i := range n {
		clones[i] = filepath.Join(t.TempDir(), "clone")
		f.mustGit(t, "", "clone", "--quiet", remote, clones[i])
		commits[i] = f.commit(t, clones[i], "p.txt", fmt.Sprintf("p%d\n", i))
	}
	type result struct {
		err    error
		stderr string
	}
	results := make([]result, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			_, stderr, err := f.run(t, clones[i], "push", "--force", remote, "main")
			results[i] = result{err, stderr}
		}()
	}
	close(start)
	wg.Wait()

	tip := f.bareRef(t, "app", "refs/heads/main")
	mu.Lock()
	defer mu.Unlock()
	if len(accepted) == 0 || accepted[len(accepted)-1] != tip {
		t.Errorf("main is at %s but the last push OnPush accepted is %v", tip, accepted)
	}
	if maxRunning != 1 {
		t.Errorf("%d OnPush calls for the same app ran at once; want them one at a time", maxRunning)
	}
	waited := 0
	for _, r := range results {
		if strings.Contains(r.stderr, "remote: Seedbed: waiting for another push to app to finish...") {
			waited++
		}
	}
	if waited == 0 {
		t.Errorf("no push said that it waited for another one")
	}
	ok := 0
	for i, r := range results {
		wasAccepted := false
		for _, c := range accepted {
			wasAccepted = wasAccepted || c == commits[i]
		}
		switch {
		case r.err == nil:
			ok++
			if !wasAccepted {
				t.Errorf("push %d succeeded without OnPush accepting it", i)
			}
		case wasAccepted:
			t.Errorf("push %d was accepted by OnPush (deployed), then rejected by git:\n%s", i, r.stderr)
		case !strings.Contains(r.stderr, "[remote rejected]") || !strings.Contains(r.stderr, "fetch, merge or rebase, and push again"):
			t.Errorf("push %d failed without git's rejection saying what to do:\n%s", i, r.stderr)
		}
	}
	if ok != len(accepted) {
		t.Errorf("%d pushes succeeded, OnPush accepted %d", ok, len(accepted))
	}
	t.Logf("%d of %d pushes landed; main at %.7s", ok, n, tip)
}
