package local

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/seedbed/seedbed/fnlog"
	"github.com/seedbed/seedbed/gateway"
	"github.com/seedbed/seedbed/metrics/observe"
	"github.com/seedbed/seedbed/sandbox"
	"github.com/seedbed/seedbed/stack"
	"github.com/seedbed/seedbed/targets"
)

// outputLines is how many of its last output lines an instance keeps for
// error messages.
const outputLines = 50

// maxLineBytes cuts overlong output lines so a function cannot make Seedbed
// hold an unbounded line in memory.
const maxLineBytes = 4096

// instance is one function of one stage. An HTTP function is a supervised
// process on a port, which may change when it is restarted; routes point
// at the instance and read the port on every request. A Lambda-style
// function is a supervised process behind its own Runtime API (api); a
// static function is no process, only files (site).
type instance struct {
	t      *Target
	stage  targets.StageRef
	fn     targets.Function // what was started; routes may change without a restart
	dir    string           // the unpacked artifact, shared between instances
	runDir string           // this instance's own HOME and TMPDIR; "" for static
	log    *slog.Logger
	out    *ringBuffer
	// port is where the gateway sends the instance's requests: its
	// process's port once that process passed a health check, 0 (which
	// refuses every connection) while it is down or starting again, so
	// that a process that took the port in the meantime gets nothing.
	port atomic.Int32
	api  *runtimeAPI  // Lambda-style functions only
	sapi *instanceAPI // HTTP functions' own Seedbed API (instanceapi.go); nil without queues
	site *staticSite  // static functions only
	cg   *fnCgroup    // with hard memory limits; nil otherwise and for static functions
	uid  int          // the app's user when sandboxed; 0 runs unconfined as Seedbed's own
	id   string       // names the instance in the function log

	mu      sync.Mutex
	cur     *proc
	stopped bool
	stopCh  chan struct{} // closed by stop
	done    chan struct{} // closed when the supervisor has returned
	superv  bool

	// phases is where its start went: preparing (artifact, run dir,
	// cgroup), spawning the process (with its sandbox) and waiting until
	// it was ready; logged when a pool scales up.
	phases struct{ prepare, spawn, ready time.Duration }

	// warm is set once the process (re)started has served a request;
	// the first request after a start is a cold start (see usage.go).
	warm atomic.Bool

	// busy and lastUsed are the pool's view of the instance: requests
	// it was given and when one last began or ended; guarded by pool.mu.
	busy     int
	lastUsed time.Time

	// conns are kept-alive connections to its process for the lean
	// proxy path (lean.go).
	conns upstreamConns

	reqMu    sync.Mutex
	inflight int
	draining bool
	idle     chan struct{} // closed when draining and no request is in flight
}

// proc is one run of an instance's process.
type proc struct {
	cmd       *exec.Cmd
	sb        *sandbox.Cmd // the sandbox cmd runs in; nil when unconfined
	started   time.Time
	exited    chan struct{} // closed once the process is reaped and its output read
	err       error         // cmd.Wait's result; read only after exited is closed
	killedFor string        // why Seedbed killed it to start afresh; guarded by instance.mu
	gen       uint64        // its Runtime API generation (Lambda-style functions)
	held      bool          // waits in its sandbox for sb.Release (a pool's spare)
	port      int           // the port it was given ($PORT); 0 for Lambda-style functions
}

// sameSpec reports whether a running instance of a can serve b unchanged:
// only routes may differ, and those live in the route table.
func sameSpec(a, b targets.Function) bool {
	return a.Digest == b.Digest && a.Runtime == b.Runtime && kindOf(a) == kindOf(b) && a.Handler == b.Handler &&
		a.Timeout == b.Timeout && a.Memory == b.Memory && maps.Equal(a.Env, b.Env) && slices.Equal(a.Secrets, b.Secrets) &&
		sameInstances(a.Instances, b.Instances) && a.Concurrency == b.Concurrency
}

// sameInstances compares two instances settings; nil is the default.
func sameInstances(a, b *stack.Instances) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

// env is the process environment: a minimal base, the function's own
// variables, then what Seedbed promises every function: PORT for HTTP
// functions, the Lambda environment for Lambda-style ones.
func (in *instance) env(port int) []string {
	path := os.Getenv("PATH")
	if path == "" || in.uid != 0 {
		path = sandboxPath
	}
	vars := map[string]string{
		"PATH":   path,
		"HOME":   in.runDir,
		"TMPDIR": filepath.Join(in.runDir, "tmp"),
		"LANG":   "C.UTF-8",
	}
	if in.fn.Runtime == "go" && in.fn.Memory > 0 {
		// A soft limit the Go runtime honours. Under a hard limit it is
		// set a tenth lower, so that the garbage collector works hard
		// before the kernel stops the process, not at the same point.
		limit := in.fn.Memory
		if in.cg != nil {
			limit = max(limit*9/10, 1)
		}
		vars["GOMEMLIMIT"] = strconv.Itoa(limit) + "MiB"
	}
	if in.fn.Runtime == "python" {
		// Keep compiled files out of the shared, immutable artifact.
		vars["PYTHONPYCACHEPREFIX"] = filepath.Join(in.runDir, "pycache")
	}
	if in.api != nil {
		vars["AWS_REGION"] = lambdaRegion // the function may name a real one
		vars["AWS_DEFAULT_REGION"] = lambdaRegion
	}
	maps.Copy(vars, in.fn.Env)
	if in.api != nil {
		name := lambdaName(in.stage, in.fn)
		memory := in.fn.Memory
		if memory <= 0 {
			memory = lambdaDefaultMemory
		}
		vars["AWS_LAMBDA_RUNTIME_API"] = in.api.addr
		vars["AWS_LAMBDA_FUNCTION_NAME"] = name
		vars["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] = strconv.Itoa(memory)
		vars["AWS_LAMBDA_FUNCTION_VERSION"] = "$LATEST"
		vars["AWS_LAMBDA_LOG_GROUP_NAME"] = "/aws/lambda/" + name
		vars["AWS_LAMBDA_LOG_STREAM_NAME"] = filepath.Base(in.runDir)
		vars["_HANDLER"] = in.fn.Handler
		vars["LAMBDA_TASK_ROOT"] = in.dir
		vars["LAMBDA_RUNTIME_DIR"] = in.runDir
		vars["TZ"] = ":UTC"
		delete(vars, "PORT")
	} else {
		vars["PORT"] = strconv.Itoa(port)
	}
	vars["SEEDBED_APP"] = in.stage.App
	vars["SEEDBED_STAGE"] = in.stage.Stage
	vars["SEEDBED_FUNCTION"] = in.fn.Key()
	if in.t.cfg.QueueTokens != nil {
		vars[gateway.QueueTokenEnv] = in.t.cfg.QueueTokens.QueueToken(in.stage)
	} else {
		delete(vars, gateway.QueueTokenEnv) // no stage env may pose as one
	}
	apiURL := ""
	if addr := in.apiAddr(); addr != "" {
		apiURL = "http://" + addr
		vars[APIURLEnv] = apiURL
	} else {
		delete(vars, APIURLEnv)
	}
	in.sqsEnv(vars, apiURL)
	env := make([]string, 0, len(vars))
	for _, k := range slices.Sorted(maps.Keys(vars)) {
		env = append(env, k+"="+vars[k])
	}
	return env
}

// spawn starts the process on port. The caller holds in.mu or owns the
// instance alone. With hold, a sandboxed process is left ready in its
// sandbox, not yet executed, until p.sb.Release (see pool.spare).
func (in *instance) spawn(port int, hold bool) (*proc, error) {
	outR, outW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("output pipe: %w", err)
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		outR.Close()
		outW.Close()
		return nil, fmt.Errorf("output pipe: %w", err)
	}
	var (
		cmd *exec.Cmd
		sb  *sandbox.Cmd
		gen uint64
	)
	// A binary just written while another goroutine forked is briefly "text
	// file busy" (the child holds the write descriptor until it execs; see
	// golang.org/issue/22315): try again for a moment.
	for attempt := 1; ; attempt++ {
		if sb != nil {
			sb.Close() // of the attempt before
		}
		cmd, sb, err = in.command(port)
		if err != nil {
			break
		}
		if in.api != nil {
			gen = in.api.begin() // before the process can connect
		}
		cmd.Stdout, cmd.Stderr = outW, errW
		if in.cg != nil && sb != nil {
			// Moved in before the sandboxed command runs (see
			// sandbox.Cmd.BeforeRun).
			cg := in.cg
			sb.BeforeRun = func(pids []int) error {
				for _, pid := range pids {
					if err := cg.add(pid); err != nil {
						return err
					}
				}
				return nil
			}
			err = cmd.Start()
		} else if in.cg != nil {
			err = in.cg.start(cmd) // errRetryStart: once, at most
		} else {
			err = cmd.Start()
		}
		if errors.Is(err, errRetryStart) && attempt < 10 {
			continue
		}
		if !errors.Is(err, syscall.ETXTBSY) || attempt == 10 {
			break
		}
		time.Sleep(time.Duration(attempt) * 10 * time.Millisecond)
	}
	if err == nil && sb != nil {
		err = startSandboxed(cmd, sb, hold)
	}
	outW.Close()
	errW.Close()
	if err != nil {
		if sb != nil {
			sb.Close()
		}
		outR.Close()
		errR.Close()
		return nil, fmt.Errorf("start: %w", err)
	}
	if err := recordGroup(in.runDir, cmd.Process.Pid); err != nil {
		in.log.Warn("record process group", "err", err)
	}

	p := &proc{cmd: cmd, sb: sb, started: time.Now(), exited: make(chan struct{}), gen: gen, held: hold && sb != nil, port: port}
	var readers sync.WaitGroup
	readers.Go(func() { in.capture(outR, "stdout") })
	readers.Go(func() { in.capture(errR, "stderr") })
	go func() {
		p.err = cmd.Wait()
		// Unpublished at once, before the supervisor hears of the exit:
		// the port is free from the moment the process died, and nothing
		// reaches it again until a new process passed its health check.
		in.port.CompareAndSwap(int32(port), 0)
		// Children left in the group would keep the port and the pipes.
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		if sb != nil {
			sb.Close()
		}
		flushed := make(chan struct{})
		go func() { readers.Wait(); close(flushed) }()
		select {
		case <-flushed:
		case <-time.After(time.Second):
			outR.Close() // unblocks the readers
			errR.Close()
			<-flushed
		}
		close(p.exited)
	}()
	return p, nil
}

// capture copies one output stream line by line, with the function's
// secret values masked, into the ring buffer that error messages quote
// and into the function log (Config.Logs). Lines go to the log in one
// write per burst: whatever has been read when the pipe has no further
// complete line waiting, at most captureBatch. Function output never goes
// to Seedbed's own log: it is the function's to print.
func (in *instance) capture(r *os.File, stream string) {
	defer r.Close()
	cs := in.out.watch(r)
	defer in.out.unwatch(cs)
	// The buffer holds many lines, so that a chatty function's output
	// comes in few reads; a line is cut at maxLineBytes after masking.
	br := bufio.NewReaderSize(cs, captureBuffer)
	var batch []fnlog.Entry
	flush := func() {
		if len(batch) == 0 {
			return
		}
		in.writeLog(batch)
		batch = batch[:0]
	}
	for {
		if br.Buffered() == 0 {
			cs.busy.Store(false) // every line read is in the ring
		}
		// Before a read that could wait, the lines read so far are
		// stored: a function that prints one line and then idles must
		// see it in its log at once.
		if len(batch) > 0 && (len(batch) >= captureBatch || !bytes.Contains(peekBuffered(br), []byte{'\n'})) {
			flush()
			// A chatty function's next lines gather in the pipe
			// meanwhile and come in one read: a read and a store per
			// line cost Seedbed half a core at 10,000 lines/s. A line
			// waits at most this long more.
			time.Sleep(captureCoalesce)
		}
		line, isPrefix, err := br.ReadLine()
		if len(line) > 0 || (err == nil && !isPrefix) {
			text := string(line)
			cut := false
			for isPrefix && err == nil { // skip the rest of an overlong line
				_, isPrefix, err = br.ReadLine()
				cut = true
			}
			// Masked before it is cut, so a secret across the cut is
			// hidden whole.
			if in.out.mask != nil {
				text = in.out.mask.Replace(text)
			}
			if len(text) > maxLineBytes {
				end := maxLineBytes
				for end > 0 && !utf8.RuneStart(text[end]) {
					end--
				}
				text, cut = text[:end], true
			}
			in.out.add(text)
			if cut {
				text += " … [cut at 4 KiB]"
			}
			batch = append(batch, fnlog.Entry{Time: time.Now(), Stream: stream, Text: text})
		}
		if err != nil {
			flush()
			if !errors.Is(err, io.EOF) && !errors.Is(err, os.ErrClosed) {
				in.log.Warn("read function output", "stream", stream, "err", err)
			}
			return
		}
	}
}

// captureBatch bounds how many lines capture stores in one write.
const captureBatch = 512

// captureBuffer is how much of a function's output capture reads at once.
const captureBuffer = 64 << 10

// captureCoalesce is how long capture lets output gather after it stored
// a batch.
const captureCoalesce = 2 * time.Millisecond

// peekBuffered returns what br holds without reading from its source.
func peekBuffered(br *bufio.Reader) []byte {
	b, _ := br.Peek(br.Buffered())
	return b
}

// writeLog stores lines of this instance in the function log, if there
// is one. Lines are masked already.
func (in *instance) writeLog(entries []fnlog.Entry) {
	if in.t.cfg.Logs == nil || len(entries) == 0 {
		return
	}
	src := fnlog.Source{App: in.stage.App, Stage: in.stage.Stage, Function: in.fn.Key(), Instance: in.id, Release: in.fn.Release}
	if err := in.t.cfg.Logs.Append(src, entries); err != nil {
		in.log.Warn("store function log lines", "lines", len(entries), "err", err)
	}
}

// note writes one of Seedbed's own lines about the instance (a crash, a
// restart) into its function log.
func (in *instance) note(level, text string) {
	in.writeLog([]fnlog.Entry{{Time: time.Now(), Stream: fnlog.StreamSeedbed, Level: level, Text: text}})
}

// waitHealthy waits until the process accepts connections on its port and
// answers HTTP, or fails with an error that names the function and shows
// its last output.
func (in *instance) waitHealthy(ctx context.Context, p *proc, limit time.Duration) error {
	if in.api != nil {
		return in.waitLambdaReady(ctx, p, limit)
	}
	deadline := time.NewTimer(limit)
	defer deadline.Stop()
	// Probed often at first: a cold start from zero waits on this loop,
	// and a refused connection to loopback costs next to nothing.
	gap := time.Millisecond
	for {
		if in.probe(ctx, p.port) {
			// An unconfined function binds the host port itself, so
			// whoever took the port first answered the probe; a sandboxed
			// one is reached through pasta, which fails the start when
			// it cannot bind the port.
			if p.sb == nil {
				if held, known := portHeldByGroup(p.port, p.cmd.Process.Pid); known && !held {
					return &portTakenError{fn: in.fn.Key(), port: p.port}
				}
			}
			return nil
		}
		select {
		case <-p.exited:
			// An unconfined function that could not bind its port
			// because another process took it first (between freePort
			// and its bind) is started again on a fresh port, as for a
			// squatter that answered: the port is held though the
			// function is gone. A sandboxed function's port is held by
			// its pasta until the sandbox is closed, whatever ended the
			// function (pasta that cannot bind fails the spawn instead).
			if in.api == nil && p.sb == nil && p.port != 0 && !portFree(p.port) {
				return &portTakenError{fn: in.fn.Key(), port: p.port}
			}
			return fmt.Errorf("function %s %s before listening on $PORT; %s",
				in.fn.Key(), in.describeEnd(p), in.out.lastOutput())
		case <-deadline.C:
			return fmt.Errorf("function %s did not listen on $PORT within %s; %s",
				in.fn.Key(), limit, in.out.lastOutput())
		case <-ctx.Done():
			return fmt.Errorf("function %s: start interrupted: %w", in.fn.Key(), context.Cause(ctx))
		case <-time.After(gap):
			gap = min(gap*5/4, 100*time.Millisecond)
		}
	}
}

// probe reports whether the instance's process on port accepts a TCP
// connection and answers an HTTP GET / with any status.
func (in *instance) probe(ctx context.Context, port int) bool {
	addr := "127.0.0.1:" + strconv.Itoa(port)
	conn, err := net.DialTimeout("tcp", addr, 500*time.Millisecond)
	if err != nil {
		return false
	}
	conn.Close()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/", nil)
	if err != nil {
		return false
	}
	req.Header.Set("User-Agent", "seedbed-health-check")
	resp, err := in.t.probeClient.Do(req)
	if err != nil {
		return false
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	return true
}

func (in *instance) addr() string {
	return "127.0.0.1:" + strconv.Itoa(int(in.port.Load()))
}

// respawn replaces p, a process not yet supervised whose port another
// process took, with a new one on a fresh port.
func (in *instance) respawn(p *proc) (*proc, error) {
	select {
	case <-p.exited: // reaped: its pid may belong to another process now
	default:
		_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
		<-p.exited
	}
	port, err := in.t.pickPort()
	if err != nil {
		return nil, err
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	next, err := in.spawn(port, false)
	if err != nil {
		return nil, err
	}
	in.cur = next
	return next, nil
}

// waitReady waits until p passes its health check. When another process
// holds p's port, it starts the function again on a fresh port, at most
// twice, saying so through logf. It returns the process that passed, or
// the error; on error the instance's current process may still run.
func (in *instance) waitReady(ctx context.Context, p *proc, logf func(format string, args ...any)) (*proc, error) {
	for attempt := 1; ; attempt++ {
		err := in.waitHealthy(ctx, p, in.t.cfg.StartTimeout)
		if err == nil {
			return p, nil
		}
		var taken *portTakenError
		if !errors.As(err, &taken) || attempt == 3 {
			return nil, err
		}
		logf("%v; starting it again on another port", err)
		if p, err = in.respawn(p); err != nil {
			return nil, fmt.Errorf("function %s: start again: %w", in.fn.Key(), err)
		}
	}
}

// publish sends the instance's requests to p, which passed its health
// check, unless the instance was stopped meanwhile.
func (in *instance) publish(p *proc) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if !in.stopped {
		in.port.Store(int32(p.port))
	}
}

// supervise restarts the process when it exits on its own, with exponential
// back-off, until the instance is stopped.
func (in *instance) supervise(p *proc) {
	defer close(in.done)
	cfg := in.t.timing
	backoff := cfg.backoffMin
	for {
		select {
		case <-p.exited:
		case <-in.stopCh:
			return
		}
		in.mu.Lock()
		stopped := in.stopped
		killedFor := p.killedFor
		in.mu.Unlock()
		if stopped {
			return
		}
		var oom string // the kernel stopped it for its memory
		if killedFor == "" {
			oom = in.outOfMemory(p.started, killedBy(p.err, syscall.SIGKILL))
		}
		if in.api != nil {
			exit := &lambdaError{Type: "Runtime.ExitError", Message: "the function's process " + describeExit(p.err) + " during the invocation"}
			if oom != "" {
				exit = &lambdaError{Type: "Runtime.OutOfMemory", Message: oom}
			}
			in.api.processExited(exit)
		}
		if killedFor != "" {
			// Seedbed killed it (a Lambda handler that timed out): start
			// afresh at once, without counting it as a crash.
			in.log.Warn("function process killed: " + killedFor + "; restarting")
			in.note(fnlog.LevelWarn, "Seedbed killed the process: "+killedFor+"; starting a new one")
		} else {
			if time.Since(p.started) >= cfg.backoffReset {
				backoff = cfg.backoffMin
			}
			if obs := in.t.cfg.Crashes; obs != nil {
				obs.FunctionCrashed(in.stage, in.fn.Key())
			}
			msg := "function crashed; restarting"
			if oom != "" {
				msg = oom + "; restarting"
				in.reportFailure(observe.KindOOM, "OutOfMemory", oom)
			} else {
				in.reportFailure(observe.KindCrash, "process "+describeExit(p.err), "the function's process "+describeExit(p.err)+" and is restarted")
			}
			in.log.Error(msg,
				"status", describeExit(p.err), "restart_in", backoff.String(), "last_output", strings.Join(in.out.last(), "\n"))
			why := "the process " + describeExit(p.err)
			if oom != "" {
				why = oom
			}
			in.note(fnlog.LevelError, why+"; restarting in "+backoff.String())
			select {
			case <-time.After(backoff):
			case <-in.stopCh:
				return
			}
			backoff = min(backoff*2, cfg.backoffMax)
		}

		in.mu.Lock()
		if in.stopped {
			in.mu.Unlock()
			return
		}
		port := p.port // of the process that ended; 0 when none started
		if in.api == nil && (port == 0 || !portFree(port)) {
			if fresh, err := in.t.pickPort(); err == nil {
				port = fresh
			}
		}
		// Before the spawn: the new process may answer the gateway before
		// spawn returns, and its first request is the cold one.
		in.warm.Store(false)
		next, err := in.spawn(port, false)
		if err != nil {
			in.mu.Unlock()
			in.log.Error("restart function", "err", err)
			// Try again after the next back-off, as if it had crashed.
			p = &proc{started: time.Now(), exited: make(chan struct{}), err: err, port: port}
			close(p.exited)
			continue
		}
		in.cur = next
		in.mu.Unlock()
		if in.api != nil {
			in.log.Info("function restarted", "pid", next.cmd.Process.Pid)
			p = next
			continue
		}
		// The same health check as a first start, owner of the port
		// included: a process that took the port during the back-off
		// must not get the function's traffic.
		ready, err := in.waitRestarted(next)
		if err != nil {
			in.log.Error("restart function", "err", err)
			p = &proc{started: time.Now(), exited: make(chan struct{}), err: err}
			close(p.exited)
			continue
		}
		in.publish(ready)
		in.log.Info("function restarted", "port", ready.port, "pid", ready.cmd.Process.Pid)
		p = ready
	}
}

// waitRestarted is waitReady for a process the supervisor started again:
// cut short when the instance stops; on failure the process, still
// running or not, is killed and reaped.
func (in *instance) waitRestarted(p *proc) (*proc, error) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-in.stopCh:
			cancel()
		case <-ctx.Done():
		}
	}()
	ready, err := in.waitReady(ctx, p, func(format string, args ...any) { in.log.Warn(fmt.Sprintf(format, args...)) })
	if err == nil {
		return ready, nil
	}
	in.mu.Lock()
	cur := in.cur
	in.mu.Unlock()
	select {
	case <-cur.exited: // reaped: its pid may belong to another process now
	default:
		_ = syscall.Kill(-cur.cmd.Process.Pid, syscall.SIGKILL)
		<-cur.exited
	}
	return nil, err
}

// acquire counts a request about to be proxied to the instance. It fails
// once the instance drains; the gateway then looks the route up again.
func (in *instance) acquire() bool {
	in.reqMu.Lock()
	defer in.reqMu.Unlock()
	if in.draining {
		return false
	}
	in.inflight++
	return true
}

func (in *instance) release() {
	in.reqMu.Lock()
	defer in.reqMu.Unlock()
	in.inflight--
	if in.draining && in.inflight == 0 {
		close(in.idle)
	}
}

// startDraining refuses new requests and returns a channel closed when the
// requests in flight have finished.
func (in *instance) startDraining() <-chan struct{} {
	in.reqMu.Lock()
	defer in.reqMu.Unlock()
	if !in.draining {
		in.draining = true
		in.idle = make(chan struct{})
		if in.inflight == 0 {
			close(in.idle)
		}
	}
	return in.idle
}

func (in *instance) inFlight() int {
	in.reqMu.Lock()
	defer in.reqMu.Unlock()
	return in.inflight
}

// stop drains the instance (waiting up to drain for requests in flight),
// then stops its process: SIGTERM to the group, SIGKILL after the grace
// period. A cancelled ctx cuts both waits short. A stopped instance is
// never restarted. It reports how many requests were still in flight when
// draining gave up.
func (in *instance) stop(ctx context.Context, drain time.Duration) (abandoned int) {
	idle := in.startDraining()
	if drain > 0 {
		timer := time.NewTimer(drain)
		select {
		case <-idle:
		case <-timer.C:
			abandoned = in.inFlight()
		case <-ctx.Done():
			abandoned = in.inFlight()
		}
		timer.Stop()
	}

	in.mu.Lock()
	first := !in.stopped
	in.stopped = true
	p := in.cur
	superv := in.superv
	if first {
		close(in.stopCh)
	}
	in.mu.Unlock()

	if p != nil {
		terminate(ctx, p, in.t.timing.killGrace)
	}
	if superv {
		<-in.done
	}
	in.conns.close()
	if in.api != nil {
		in.api.close()
	}
	in.sapi.close()
	if in.site != nil && first {
		in.site.close()
	}
	if in.cg != nil && first {
		if err := in.cg.remove(); err != nil {
			in.log.Warn("remove the function's cgroup", "err", err)
		}
	}
	if first && in.runDir != "" {
		_ = os.Remove(groupRecord(in.runDir))
		if err := os.RemoveAll(in.runDir); err != nil {
			in.log.Warn("remove run dir", "dir", in.runDir, "err", err)
		}
	}
	return abandoned
}

// killForRestart kills the running process of Runtime API generation gen
// so that the supervisor starts a fresh one at once: a Lambda handler that
// timed out is not reused. A process of another generation is left alone.
func (in *instance) killForRestart(reason string, gen uint64) {
	in.mu.Lock()
	defer in.mu.Unlock()
	p := in.cur
	if in.stopped || p == nil || p.cmd == nil || p.gen != gen {
		return
	}
	select {
	case <-p.exited:
		return
	default:
	}
	p.killedFor = reason
	_ = syscall.Kill(-p.cmd.Process.Pid, syscall.SIGKILL)
}

// terminate asks the process group to stop and kills it after grace.
func terminate(ctx context.Context, p *proc, grace time.Duration) {
	pgid := p.cmd.Process.Pid
	select {
	case <-p.exited:
		return
	default:
	}
	if p.sb != nil {
		// SIGTERM to bwrap would kill the sandbox at once; the function
		// itself is asked to stop.
		p.sb.Signal(syscall.SIGTERM)
	} else {
		_ = syscall.Kill(-pgid, syscall.SIGTERM)
	}
	timer := time.NewTimer(grace)
	defer timer.Stop()
	select {
	case <-p.exited:
		return
	case <-timer.C:
	case <-ctx.Done():
	}
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	<-p.exited
}

// describeEnd renders how the instance's process p ended, saying "ran
// out of memory" when the kernel's OOM killer stopped it.
func (in *instance) describeEnd(p *proc) string {
	if oom := in.outOfMemory(p.started, killedBy(p.err, syscall.SIGKILL)); oom != "" {
		return "ran out of memory (" + strings.TrimPrefix(oom, "out of memory: ") + ")"
	}
	return describeExit(p.err)
}

// describeExit renders how a process ended: "exited with status 1" or
// "was killed by signal killed".
func describeExit(err error) string {
	if err == nil {
		return "exited with status 0"
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return "was killed by signal " + ws.Signal().String()
		}
		return "exited with status " + strconv.Itoa(ee.ExitCode())
	}
	return "failed: " + err.Error()
}

// killedBy reports whether the process ended by signal sig.
func killedBy(err error, sig syscall.Signal) bool {
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		return false
	}
	ws, ok := ee.Sys().(syscall.WaitStatus)
	return ok && ws.Signaled() && ws.Signal() == sig
}

// freePort asks the kernel for a port nobody listens on. Another process
// could take it before an unconfined function binds it; the health check
// then finds the listener outside the function's process group
// (portHeldByGroup) and the start tries again on a fresh port.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func portFree(port int) bool {
	ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		return false
	}
	ln.Close()
	return true
}

// ringBuffer keeps the last lines of a function's output.
type ringBuffer struct {
	mask  *strings.Replacer // hides secret values; nil masks nothing
	mu    sync.Mutex
	lines []string
	next  int
	pipes []*capturedPipe // the output pipes being read into it
}

// capturedPipe is an output pipe being read; busy is set from a read
// that returned bytes until every line of them is in the ring.
type capturedPipe struct {
	f    *os.File
	busy atomic.Bool
}

// Read reads the pipe, marking it busy when bytes came.
func (c *capturedPipe) Read(p []byte) (int, error) {
	n, err := c.f.Read(p)
	if n > 0 {
		c.busy.Store(true)
	}
	return n, err
}

// watch registers an output pipe whose lines come into b.
func (b *ringBuffer) watch(f *os.File) *capturedPipe {
	c := &capturedPipe{f: f}
	b.mu.Lock()
	b.pipes = append(b.pipes, c)
	b.mu.Unlock()
	return c
}

// unwatch forgets a pipe once it is read to its end.
func (b *ringBuffer) unwatch(c *capturedPipe) {
	b.mu.Lock()
	b.pipes = slices.DeleteFunc(b.pipes, func(p *capturedPipe) bool { return p == c })
	b.mu.Unlock()
}

// caughtUp reports whether every line written to the pipes so far is in
// the ring: no pipe holds unread bytes and no reader holds unstored ones.
func (b *ringBuffer) caughtUp() bool {
	b.mu.Lock()
	pipes := slices.Clone(b.pipes)
	b.mu.Unlock()
	for _, c := range pipes {
		if c.busy.Load() || pipeUnread(c.f) > 0 {
			return false
		}
	}
	return true
}

// settle waits, up to limit, until the lines a function printed just
// before it answered have come through its output pipes, so that the
// excerpt kept with an invocation shows them. Caught up twice in a row,
// a millisecond apart, covers a reader between its read and its mark.
func (b *ringBuffer) settle(limit time.Duration) {
	deadline := time.Now().Add(limit)
	for calm := 0; calm < 2 && time.Now().Before(deadline); time.Sleep(time.Millisecond) {
		if b.caughtUp() {
			calm++
		} else {
			calm = 0
		}
	}
}

// pipeUnread is how many bytes wait in the pipe f (FIONREAD); 0 when it
// cannot tell. SyscallConn leaves the pipe non-blocking, as Fd would not.
func pipeUnread(f *os.File) int {
	rc, err := f.SyscallConn()
	if err != nil {
		return 0
	}
	n := 0
	_ = rc.Control(func(fd uintptr) {
		var v int32
		if _, _, errno := syscall.Syscall(syscall.SYS_IOCTL, fd, syscall.TIOCINQ, uintptr(unsafe.Pointer(&v))); errno == 0 {
			n = int(v)
		}
	})
	return n
}

// add keeps line, which the caller masked already with b.mask.
func (b *ringBuffer) add(line string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if len(b.lines) < outputLines {
		b.lines = append(b.lines, line)
		return
	}
	b.lines[b.next] = line
	b.next = (b.next + 1) % outputLines
}

// last returns the kept lines, oldest first.
func (b *ringBuffer) last() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append(slices.Clone(b.lines[b.next:]), b.lines[:b.next]...)
}

// lastOutput renders the kept lines for an error message.
func (b *ringBuffer) lastOutput() string {
	lines := b.last()
	if len(lines) == 0 {
		return "it printed nothing"
	}
	return "last output:\n" + strings.Join(lines, "\n")
}
