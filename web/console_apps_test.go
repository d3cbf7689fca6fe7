package web_test

import (
	"context"
	"fmt"
	"io"
	"regexp"
	"strings"
	"testing"

	"github.com/seedbed/seedbed/store"
)

// The apps overview shows what each stage serves and, beside it, the deploy
// still on its way or the one that failed last, as they are now, though the
// store keeps the overview's rows between views. A cancelled deploy over a
// live release reads as that release, and so does a promotion awaiting
// approval (with its badge beside).
func TestAppsPageFollowsDeploys(t *testing.T) {
	f := setup(t)
	c, _ := f.signIn(t)
	ctx := context.Background()
	app, err := f.store.AppByName(ctx, "shop")
	if err != nil {
		t.Fatal(err)
	}
	stage := func(name string) store.Stage {
		t.Helper()
		st, err := f.store.StageByName(ctx, app.ID, name)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}
	dev, staging := stage("dev"), stage("staging")
	tag := regexp.MustCompile(`<[^>]*>`)
	space := regexp.MustCompile(`\s+`)
	// show answers what the overview shows of a stage: the text of what is
	// live, and the status of the badge beside it ("" for none).
	show := func(t *testing.T, name string) (live, pending string) {
		t.Helper()
		resp, err := c.Get(f.srv.URL + "/apps")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		row := regexp.MustCompile(`(?s)<tr data-testid="app-shop">.*?data-stage="` + name + `">(.*?)(?:<span class="stage-badge"|</div>)`).FindSubmatch(b)
		if resp.StatusCode != 200 || row == nil {
			t.Fatalf("GET /apps: %d, no %s badge for shop in\n%s", resp.StatusCode, name, b)
		}
		seg := string(row[1])
		if m := regexp.MustCompile(`data-status="([^"]*)"`).FindStringSubmatch(seg); m != nil {
			pending = m[1]
			seg = seg[:strings.Index(seg, `<span class="badge`)]
		}
		_, liveHTML, ok := strings.Cut(seg, `data-testid="live">`)
		if !ok {
			t.Fatalf("%s shows nothing of what is live: %s", name, seg)
		}
		return strings.TrimSpace(space.ReplaceAllString(tag.ReplaceAllString(liveHTML, " "), " ")), pending
	}
	build := store.Build{AppID: app.ID, Ref: "main", CommitSHA: "abcdef0123456789abcdef0123456789abcdef01", Status: store.BuildSucceeded, TriggerKind: "api"}
	if err := f.store.CreateBuild(ctx, &build); err != nil {
		t.Fatal(err)
	}
	rel := store.Release{AppID: app.ID, BuildID: build.ID, Manifest: "{}"}
	if err := f.store.CreateRelease(ctx, &rel); err != nil {
		t.Fatal(err)
	}
	liveText := fmt.Sprintf("#%d abcdef0", rel.ID)
	deploy := func(st store.Stage, status string) store.Deploy {
		t.Helper()
		d := store.Deploy{AppID: app.ID, StageID: st.ID, ReleaseID: &rel.ID, Status: status, TriggerKind: "api"}
		if err := f.store.CreateDeploy(ctx, &d); err != nil {
			t.Fatal(err)
		}
		return d
	}
	save := func(d *store.Deploy, status string) {
		t.Helper()
		d.Status = status
		if err := f.store.SaveDeploy(ctx, d); err != nil {
			t.Fatal(err)
		}
	}

	type want struct{ live, pending string }
	steps := []struct {
		name   string
		change func(t *testing.T)
		dev    want
		stage  want
	}{
		{"before any deploy", func(*testing.T) {}, want{"nothing live", ""}, want{"nothing live", ""}},
		{"a deploy of dev runs", func(t *testing.T) {
			d := deploy(dev, store.DeployRunning)
			save(&d, store.DeployRunning)
		}, want{"nothing live", "running"}, want{"nothing live", ""}},
		{"dev serves the release", func(t *testing.T) {
			d := deploy(dev, store.DeploySucceeded)
			if err := f.store.SetStageLive(ctx, dev.ID, rel.ID, d.ID); err != nil {
				t.Fatal(err)
			}
		}, want{liveText, ""}, want{"nothing live", ""}},
		{"the next deploy of dev is cancelled", func(t *testing.T) {
			deploy(dev, store.DeployCancelled)
		}, want{liveText, ""}, want{"nothing live", ""}},
		{"staging serves it and a promotion awaits approval", func(t *testing.T) {
			d := deploy(staging, store.DeploySucceeded)
			if err := f.store.SetStageLive(ctx, staging.ID, rel.ID, d.ID); err != nil {
				t.Fatal(err)
			}
			deploy(staging, store.DeployAwaiting)
		}, want{liveText, ""}, want{liveText, "awaiting_approval"}},
		{"a deploy of dev fails", func(t *testing.T) {
			deploy(dev, store.DeployFailed)
		}, want{liveText, "failed"}, want{liveText, "awaiting_approval"}},
	}
	for _, step := range steps {
		step.change(t)
		for _, s := range []struct {
			name string
			want want
		}{{"dev", step.dev}, {"staging", step.stage}} {
			live, pending := show(t, s.name)
			if live != s.want.live || pending != s.want.pending {
				t.Errorf("%s: %s shows %q beside %q, want %q beside %q", step.name, s.name, live, pending, s.want.live, s.want.pending)
			}
		}
	}
}
