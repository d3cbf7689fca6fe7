package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/seedbed/seedbed/builders/artifact"
	"github.com/seedbed/seedbed/fnlog"
	"github.com/seedbed/seedbed/pipelines"
	"github.com/seedbed/seedbed/store"
	"github.com/seedbed/seedbed/targets/local"
)

// newCollector makes the collector of a data dir and database. running
// lists what the local target of this process runs (nil when there is
// none in this process).
func newCollector(cfg Config, st *store.Store, arts artifact.Storage, running func() []string, log *slog.Logger) (*pipelines.Collector, error) {
	runDir := filepath.Join(cfg.DataDir, "run")
	return pipelines.NewCollector(pipelines.CollectorConfig{
		Store: st, Artifacts: arts, Running: running, Retention: cfg.Retention,
		Owner: cfg.NodeID + ":" + fmt.Sprint(os.Getpid()), Logger: log,
		PruneUnpacked: func(ctx context.Context, keep func(string) bool, grace time.Duration, dryRun bool) (int, int64, error) {
			res, err := local.PruneUnpacked(ctx, runDir, keep, grace, dryRun)
			return res.Removed, res.Bytes, err
		},
	})
}

// runGC removes what retention does not keep, once, on the machine that
// holds the data dir.
func runGC(ctx context.Context, cfg *Config, dryRun bool, out *outputFormat, stdout, stderr io.Writer) error {
	if err := cfg.finish(nil); err != nil {
		return err
	}
	if !strings.HasPrefix(cfg.DatabaseURL, "postgres") {
		if _, err := os.Stat(cfg.DatabaseURL); errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("no Seedbed database at %s: run seedbed gc with the data dir of seedbed serve (--data-dir or SEEDBED_DATA_DIR)", cfg.DatabaseURL)
		}
	}
	st, err := store.Open(ctx, cfg.DatabaseURL)
	if err != nil {
		return err
	}
	defer st.Close()
	arts, err := openArtifacts(ctx, *cfg)
	if err != nil {
		return err
	}
	gc, err := newCollector(*cfg, st, arts, nil, slog.New(slog.NewTextHandler(stderr, nil)))
	if err != nil {
		return err
	}
	rep, err := gc.Run(ctx, dryRun)
	if err != nil {
		return err
	}
	fnRep, err := pruneFunctionLogs(ctx, *cfg, dryRun)
	if err != nil {
		return err
	}
	return out.print(stdout, gcResultOf(rep, fnRep), func(w io.Writer) error {
		printGCReport(w, rep, cfg.Retention)
		printFunctionLogsPruned(w, *cfg, dryRun, fnRep)
		return nil
	})
}

// gcResult is seedbed gc's report as --output json prints it: what was
// removed (would be, with dry_run), in counts and bytes.
type gcResult struct {
	DryRun              bool   `json:"dry_run"`
	Busy                bool   `json:"busy"` // another process was collecting: nothing was done
	ReleaseIDs          []uint `json:"release_ids"`
	Releases            int64  `json:"releases"`
	KeptReleases        int    `json:"kept_releases"`
	Artifacts           int    `json:"artifacts"`
	ArtifactBytes       int64  `json:"artifact_bytes"`
	Unpacked            int    `json:"unpacked"`
	UnpackedBytes       int64  `json:"unpacked_bytes"`
	LogLines            int64  `json:"log_lines"`
	LogBytes            int64  `json:"log_bytes"`
	WebhookDeliveries   int64  `json:"webhook_deliveries"`
	FunctionLogSegments int    `json:"function_log_segments"`
	FunctionLogBytes    int64  `json:"function_log_bytes"`
	TookMS              int64  `json:"took_ms"`
}

func gcResultOf(rep pipelines.GCReport, fn fnlog.PruneReport) gcResult {
	ids := rep.ReleaseIDs
	if ids == nil {
		ids = []uint{}
	}
	return gcResult{DryRun: rep.DryRun, Busy: rep.Busy, ReleaseIDs: ids, Releases: rep.Releases.Releases, KeptReleases: rep.KeptReleases,
		Artifacts: rep.Artifacts, ArtifactBytes: rep.ArtifactBytes, Unpacked: rep.Unpacked, UnpackedBytes: rep.UnpackedBytes,
		LogLines: rep.Releases.LogLines + rep.Logs.Lines, LogBytes: rep.Releases.LogBytes + rep.Logs.Bytes, WebhookDeliveries: rep.Deliveries,
		FunctionLogSegments: fn.Segments, FunctionLogBytes: fn.Bytes, TookMS: rep.Took.Milliseconds()}
}

func printGCReport(w io.Writer, rep pipelines.GCReport, r pipelines.Retention) {
	if rep.Busy {
		fmt.Fprintln(w, "Another Seedbed process is collecting right now; nothing was done. Try again in a few minutes.")
		return
	}
	verb := "Removed"
	if rep.DryRun {
		verb = "Would remove (dry run, nothing was changed)"
	}
	fmt.Fprintf(w, "%s:\n", verb)
	fmt.Fprintf(w, "  releases:           %d%s\n", rep.Releases.Releases, idList(rep.ReleaseIDs))
	fmt.Fprintf(w, "  artifacts:          %d (%s)\n", rep.Artifacts, bytesOf(rep.ArtifactBytes))
	fmt.Fprintf(w, "  unpacked copies:    %d (%s)\n", rep.Unpacked, bytesOf(rep.UnpackedBytes))
	fmt.Fprintf(w, "  log lines:          %d (%s of text)\n", rep.Releases.LogLines+rep.Logs.Lines, bytesOf(rep.Releases.LogBytes+rep.Logs.Bytes))
	fmt.Fprintf(w, "  webhook deliveries: %d\n", rep.Deliveries)
	fmt.Fprintf(w, "Frees %s of files; the database reuses the space of the rows it deleted.\n", bytesOf(rep.FileBytes()))
	fmt.Fprintf(w, "Kept %d releases: live ones, %d per stage for rollback, those deploys in progress need.\n", rep.KeptReleases, r.Releases)
}

// idList renders release ids as " (#1-#5, #9)", or "" for none.
func idList(ids []uint) string {
	if len(ids) == 0 {
		return ""
	}
	var parts []string
	for i := 0; i < len(ids); {
		j := i
		for j+1 < len(ids) && ids[j+1] == ids[j]+1 {
			j++
		}
		if j == i {
			parts = append(parts, fmt.Sprintf("#%d", ids[i]))
		} else {
			parts = append(parts, fmt.Sprintf("#%d-#%d", ids[i], ids[j]))
		}
		i = j + 1
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

// bytesOf renders a size for people.
func bytesOf(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d bytes", n)
}
