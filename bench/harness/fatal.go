package harness

import (
	"fmt"
	"os"
	"sync"
)

var (
	cleanupMu sync.Mutex
	cleanups  []func()
)

// OnFatal registers fn to run (last registered first) before Fatal exits,
// so a failed benchmark leaves no server, function or temp folder behind:
// log.Fatal would skip deferred calls, and the server runs in its own
// process group.
func OnFatal(fn func()) {
	cleanupMu.Lock()
	defer cleanupMu.Unlock()
	cleanups = append(cleanups, fn)
}

// Fatal prints v, runs what OnFatal registered and exits with status 1.
func Fatal(v ...any) { fail(fmt.Sprint(v...)) }

// Fatalf is Fatal with a format.
func Fatalf(format string, v ...any) { fail(fmt.Sprintf(format, v...)) }

func fail(msg string) {
	fmt.Fprintln(os.Stderr, msg)
	cleanupMu.Lock()
	fns := cleanups
	cleanups = nil
	cleanupMu.Unlock()
	for i := len(fns) - 1; i >= 0; i-- {
		fns[i]()
	}
	os.Exit(1)
}
