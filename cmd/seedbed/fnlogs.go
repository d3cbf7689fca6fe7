package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/seedbed/seedbed/fnlog"
)

// Function log retention defaults: a week, and 1 GiB per stage.
const (
	defaultFunctionLogAge   = 7 * 24 * time.Hour
	defaultFunctionLogBytes = 1 << 30
)

// functionLogsDir is where serve keeps the function logs of the functions
// it runs.
func functionLogsDir(dataDir string) string { return filepath.Join(dataDir, "fnlogs") }

// functionLogFlags registers what the function logs keep.
func functionLogFlags(fs *pflag.FlagSet, env func(k, def string) string, c *Config) {
	age := c.envDuration(env, "SEEDBED_RETAIN_FUNCTION_LOGS", defaultFunctionLogAge, "168h")
	c.FunctionLogs = fnlog.Retention{Age: age, Bytes: defaultFunctionLogBytes}
	if v := env("SEEDBED_RETAIN_FUNCTION_LOGS_SIZE", ""); v != "" {
		n, err := parseSize(v)
		if err != nil {
			c.envErr = errors.Join(c.envErr, fmt.Errorf("SEEDBED_RETAIN_FUNCTION_LOGS_SIZE=%q: %w", v, err))
		}
		c.FunctionLogs.Bytes = n
	}
	fs.DurationVar(&c.FunctionLogs.Age, "retain-function-logs", c.FunctionLogs.Age, "how long the lines functions print are kept; 0 keeps them regardless of age (SEEDBED_RETAIN_FUNCTION_LOGS)")
	fs.Var((*sizeFlag)(&c.FunctionLogs.Bytes), "retain-function-logs-size", "how much of the lines functions print each stage keeps, e.g. 500MiB or 2GiB; the oldest go first; 0: no limit (SEEDBED_RETAIN_FUNCTION_LOGS_SIZE; default 1GiB)")
}

// sizeFlag is a byte count given as 1048576, 512KiB, 100MB, 2GiB ...
type sizeFlag int64

func (f *sizeFlag) String() string { return strconv.FormatInt(int64(*f), 10) }

// Type names the value in --help.
func (f *sizeFlag) Type() string { return "size" }

func (f *sizeFlag) Set(v string) error {
	n, err := parseSize(v)
	if err != nil {
		return err
	}
	*f = sizeFlag(n)
	return nil
}

// parseSize reads a size in bytes with an optional unit: B, KB/MB/GB
// (powers of 1000) or KiB/MiB/GiB (powers of 1024).
func parseSize(v string) (int64, error) {
	s := strings.TrimSpace(v)
	units := []struct {
		suffix string
		mult   int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"TiB", 1 << 40}, {"KB", 1e3}, {"MB", 1e6}, {"GB", 1e9}, {"TB", 1e12}, {"B", 1}}
	mult := int64(1)
	for _, u := range units {
		if num, ok := strings.CutSuffix(s, u.suffix); ok {
			s, mult = strings.TrimSpace(num), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("%q is not a size: give bytes or a whole number with a unit, such as 500MiB or 2GiB", v)
	}
	return n * mult, nil
}

// openFunctionLogs opens the function logs of the data dir.
func openFunctionLogs(cfg Config, log *slog.Logger) (*fnlog.Store, error) {
	return fnlog.Open(fnlog.Options{Dir: functionLogsDir(cfg.DataDir), Retention: cfg.FunctionLogs, Logger: log})
}

// pruneFunctionLogs applies the function log retention to the data dir
// (seedbed gc; serve's store prunes by itself as well) and reports it.
func pruneFunctionLogs(ctx context.Context, cfg Config, dryRun bool) (fnlog.PruneReport, error) {
	rep, err := fnlog.Prune(ctx, functionLogsDir(cfg.DataDir), cfg.FunctionLogs, time.Now(), dryRun)
	if err != nil {
		return rep, fmt.Errorf("prune function logs: %w", err)
	}
	return rep, nil
}

// printFunctionLogsPruned is seedbed gc's line about function logs.
func printFunctionLogsPruned(w io.Writer, cfg Config, dryRun bool, rep fnlog.PruneReport) {
	verb := "removed"
	if dryRun {
		verb = "would remove"
	}
	fmt.Fprintf(w, "Function logs (kept %s, at most %s a stage): %s %d segments (%s).\n",
		humanAge(cfg.FunctionLogs.Age), bytesOf(cfg.FunctionLogs.Bytes), verb, rep.Segments, bytesOf(rep.Bytes))
}

// humanAge renders a retention age; 0 is no limit.
func humanAge(d time.Duration) string {
	switch {
	case d == 0:
		return "at any age"
	case d == 24*time.Hour:
		return "1 day"
	case d%(24*time.Hour) == 0:
		return fmt.Sprintf("%d days", d/(24*time.Hour))
	}
	return d.String()
}
