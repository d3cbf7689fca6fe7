package local

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/seedbed/seedbed/gateway"
	"github.com/seedbed/seedbed/metrics/observe"
	"github.com/seedbed/seedbed/stack"
	"github.com/seedbed/seedbed/targets"
)

// defaultHTTPConcurrency is the load per instance past which another
// instance of an HTTP function that sets no concurrency starts (Cloud
// Run's default). It is no hard cap: at max instances, requests go to the
// least busy one.
const defaultHTTPConcurrency = 80

// pool is the gateway's upstream for one function of a stage: the
// instances (processes) that run it. It sends each request to the ready
// instance with the fewest requests in flight, starts another when every
// instance is at its concurrency (up to instances.max and within the
// target's memory budget), holding the request meanwhile, and stops
// instances above instances.min that served nothing for
// scale_down_after. A static function is one "instance" without a
// process (static).
type pool struct {
	t     *Target
	stage targets.StageRef
	fn    targets.Function // what was started; routes may change without a restart

	static *instance // static functions only

	min, max  int
	conc      int  // requests per instance
	hard      bool // conc is a cap, not only the level to scale up at
	scaleDown time.Duration

	// life is cancelled by stop: starts in progress give up.
	life   context.Context
	cancel context.CancelFunc

	mu         sync.Mutex
	insts      []*instance // healthy, taking requests
	starting   int
	changed    chan struct{} // closed (and replaced) when insts or their load change
	startErr   error         // why the last start failed
	startErrAt time.Time
	startFails int // starts that failed in a row
	inflight   int // requests acquired, waiting or served
	draining   bool
	stopped    bool
	idle       chan struct{}  // closed when draining and nothing is in flight
	reaped     chan struct{}  // closed when the reaper has returned
	starts     sync.WaitGroup // starts to scale up, for stop to wait on
	// spare is an instance whose sandbox is set up and whose process
	// waits in it, not yet executed: the next start from zero only lets
	// it run (see keepSpare). sparing says one is being prepared.
	spare   *instance
	sparing bool
}

// startTries is how many starts in a row a held request waits through
// before it gets the failure: a start can fail for a passing reason (the
// sandbox's network setup under load), a function that cannot start
// fails every time.
const startTries = 3

// errPoolStopped fails requests still waiting for an instance when the
// pool stops.
var errPoolStopped = errors.New("the function is being stopped")

func newPool(t *Target, ref targets.StageRef, fn targets.Function) *pool {
	p := &pool{t: t, stage: ref, fn: fn, min: 1, max: 1, changed: make(chan struct{}), reaped: make(chan struct{})}
	if in := fn.Instances; in != nil && in.Max > 0 {
		p.min, p.max = max(in.Min, 0), in.Max
		p.scaleDown = in.ScaleDownAfter
	}
	if p.scaleDown <= 0 {
		p.scaleDown = stack.DefaultScaleDownAfter
	}
	switch {
	case isLambda(fn):
		p.conc = 1 // as Lambda: one event at a time per instance
	case fn.Concurrency > 0:
		p.conc, p.hard = fn.Concurrency, true
	default:
		p.conc = defaultHTTPConcurrency
	}
	p.life, p.cancel = context.WithCancel(t.life)
	return p
}

// startPool starts a function's pool with max(min, 1) instances and waits
// until they are healthy: a deploy proves the function starts even when
// it may scale to zero (it then does after scale_down_after). On failure
// nothing of it is left running.
func (t *Target) startPool(ctx context.Context, ref targets.StageRef, fn targets.Function, log targets.Logger) (*pool, error) {
	p := newPool(t, ref, fn)
	if fn.Runtime == "static" {
		in, err := t.start(ctx, ref, fn, log)
		if err != nil {
			p.cancel()
			return nil, err
		}
		p.static = in
		close(p.reaped)
		return p, nil
	}
	n := max(p.min, 1)
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		errs []error
	)
	for range n {
		t.reserveMemory(fn.Memory, true)
		wg.Go(func() {
			in, err := t.start(ctx, ref, fn, log)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				t.releaseMemory(fn.Memory)
				errs = append(errs, err)
				return
			}
			in.lastUsed = time.Now()
			p.insts = append(p.insts, in)
		})
	}
	wg.Wait()
	if len(errs) == 0 {
		p.reportInstances(len(p.insts))
	}
	if len(errs) > 0 {
		close(p.reaped) // none runs yet
		p.stop(context.Background(), 0)
		return nil, errs[0] // the same function: one cause is enough
	}
	go p.reap()
	return p, nil
}

// Acquire reserves the pool for one request; false once it drains (the
// gateway then finds the function's successor).
func (p *pool) Acquire() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.draining {
		return false
	}
	p.inflight++
	return true
}

// Release ends a request Acquire admitted.
func (p *pool) Release() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.inflight--
	if p.draining && p.inflight == 0 {
		close(p.idle)
	}
}

// Serve answers a request with the least busy instance, holding it while
// one starts when every instance is busy (or none runs).
func (p *pool) Serve(w http.ResponseWriter, r *http.Request, c *gateway.Call) {
	if p.static != nil {
		p.static.Serve(w, r, c)
		return
	}
	in, err := p.take(r.Context())
	if err != nil {
		if r.Context().Err() != nil {
			return // the client went away
		}
		observe.NoteFailure(r.Context(), observe.Failure{Kind: observe.KindHTTP, Type: "HTTP 503", Message: err.Error()})
		w.Header().Set("Retry-After", "1")
		gateway.PlainError(w, http.StatusServiceUnavailable, err.Error())
		return
	}
	defer p.put(in)
	name, cold := in.ClaimRequest()
	observe.NoteInstance(r.Context(), name, cold)
	in.Serve(w, r, c)
}

// MakeEvent turns a request for a Lambda-style function into its event,
// for an async invocation (gateway.EventMaker).
func (p *pool) MakeEvent(r *http.Request, body []byte, c *gateway.Call, requestID string) ([]byte, error) {
	if !isLambda(p.fn) {
		return nil, errors.New("not a Lambda-style function")
	}
	return buildEvent(r, body, eventInput{call: c, requestID: requestID, at: time.Now()})
}

// holdLimit is how long a request may wait for an instance: long enough
// for one to start and for a busy one to answer.
func (p *pool) holdLimit() time.Duration {
	return max(p.t.cfg.StartTimeout, functionTimeout(p.fn))
}

// take picks the instance for one request and counts the request on it;
// put gives it back. It starts another instance when every ready one is
// at its concurrency and waits for whichever frees first: a slot or the
// new instance. At max instances a function without a hard concurrency
// sends the request to the least busy instance anyway (a Lambda-style
// one queues it there, as before scaling).
func (p *pool) take(ctx context.Context) (*instance, error) {
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	p.mu.Lock()
	defer p.mu.Unlock()
	for {
		if p.stopped {
			return nil, fmt.Errorf("function %s: %w", p.fn.Key(), errPoolStopped)
		}
		best := p.leastBusy()
		if best != nil && best.busy < p.conc {
			return p.admit(best), nil
		}
		if p.canGrow() {
			p.grow()
		}
		if best != nil && p.starting == 0 && !p.hard {
			return p.admit(best), nil // at max: queue on the least busy
		}
		var retry <-chan time.Time // a start to try again after a failed one
		if best == nil && p.starting == 0 {
			switch {
			case p.startErr != nil && p.startFails < startTries && time.Since(p.startErrAt) < p.t.timing.backoffMin:
				// Try again once the back-off has passed (canGrow).
				retry = time.After(p.t.timing.backoffMin - time.Since(p.startErrAt))
			case p.startErr != nil:
				// Each request after the back-off still tries one start.
				return nil, fmt.Errorf("function %s could not start an instance: %w", p.fn.Key(), p.startErr)
			default:
				return nil, fmt.Errorf("function %s has no instance and may start none now (instances.max %d, or the memory budget is used up)", p.fn.Key(), p.max)
			}
		}
		if timer == nil {
			timer = time.NewTimer(p.holdLimit())
		}
		changed := p.changed
		p.mu.Unlock()
		var expired bool
		select {
		case <-retry:
		case <-changed:
		case <-ctx.Done():
			p.mu.Lock()
			return nil, context.Cause(ctx)
		case <-timer.C:
			expired = true
		}
		p.mu.Lock()
		if expired {
			if best := p.leastBusy(); best != nil && !p.hard {
				return p.admit(best), nil
			}
			return nil, fmt.Errorf("function %s: no instance was free within %s (instances.max %d, concurrency %d)", p.fn.Key(), p.holdLimit(), p.max, p.conc)
		}
	}
}

// leastBusy returns the ready instance with the fewest requests, the
// most recently used among equals (so that the others can go idle); nil
// when none is ready. The caller holds p.mu.
func (p *pool) leastBusy() *instance {
	var best *instance
	for _, in := range p.insts {
		if best == nil || in.busy < best.busy || in.busy == best.busy && in.lastUsed.After(best.lastUsed) {
			best = in
		}
	}
	return best
}

// admit counts a request on in. The caller holds p.mu.
func (p *pool) admit(in *instance) *instance {
	in.busy++
	in.lastUsed = time.Now()
	in.acquire() // its own count, for the usage gauges; never refused while in the pool
	return in
}

// put ends a request take admitted.
func (p *pool) put(in *instance) {
	in.release()
	p.mu.Lock()
	defer p.mu.Unlock()
	in.busy--
	in.lastUsed = time.Now()
	p.notify()
}

// notify wakes the requests waiting for an instance. The caller holds
// p.mu.
func (p *pool) notify() {
	close(p.changed)
	p.changed = make(chan struct{})
}

// canGrow reports whether another instance may start now: below max,
// not right after a failed start, within the memory budget (which it
// then reserves). The caller holds p.mu.
func (p *pool) canGrow() bool {
	if p.stopped || len(p.insts)+p.starting >= p.max {
		return false
	}
	if p.startErr != nil && time.Since(p.startErrAt) < p.t.timing.backoffMin {
		return false
	}
	return p.t.reserveMemory(p.fn.Memory, false)
}

// grow starts one more instance in the background, from the spare if
// there is one; its memory is reserved. The caller holds p.mu.
func (p *pool) grow() {
	p.starting++
	spare := p.spare
	p.spare = nil
	p.starts.Go(func() {
		began := time.Now()
		var in *instance
		var err error
		if spare != nil {
			if err = p.t.wake(p.life, spare); err == nil {
				in = spare
			}
		} else {
			in, err = p.t.start(p.life, p.stage, p.fn, discardLogger{})
		}
		p.mu.Lock()
		p.starting--
		if err != nil {
			p.t.releaseMemory(p.fn.Memory)
			p.startErr, p.startErrAt = err, time.Now()
			p.startFails++
			p.notify()
			p.mu.Unlock()
			if p.life.Err() == nil {
				p.t.log.Warn("start another instance", "app", p.stage.App, "stage", p.stage.Stage, "function", p.fn.Key(), "err", err)
			}
			return
		}
		if p.stopped {
			p.mu.Unlock()
			p.t.releaseMemory(p.fn.Memory)
			in.stop(context.Background(), 0)
			return
		}
		p.startErr, p.startFails = nil, 0
		in.lastUsed = time.Now()
		p.insts = append(p.insts, in)
		n := len(p.insts)
		p.notify()
		p.reportInstances(n)
		p.mu.Unlock()
		p.t.log.Info("instance started", "app", p.stage.App, "stage", p.stage.Stage, "function", p.fn.Key(),
			"instance", in.name(), "instances", n, "spare", spare != nil, "took", time.Since(began).Round(time.Microsecond).String(),
			"prepare", in.phases.prepare.Round(time.Microsecond).String(), "spawn", in.phases.spawn.Round(time.Microsecond).String(),
			"ready", in.phases.ready.Round(time.Microsecond).String())
	})
}

// reap stops instances above min that have been idle for scale_down_after,
// until the pool stops.
func (p *pool) reap() {
	defer close(p.reaped)
	tick := time.NewTicker(p.t.timing.scaleTick)
	defer tick.Stop()
	for {
		select {
		case <-p.life.Done():
			return
		case <-tick.C:
		}
		for _, in := range p.idleInstances() {
			in.stop(p.life, p.t.timing.drain)
			p.t.log.Info("idle instance stopped", "app", p.stage.App, "stage", p.stage.Stage, "function", p.fn.Key(), "instance", in.name())
		}
		p.mu.Lock()
		p.keepSpare()
		p.mu.Unlock()
	}
}

// keepSpare prepares a spare instance in the background for a sandboxed
// function that may scale to zero and runs none now: its run dir, cgroup
// and sandbox (bubblewrap's namespaces, pasta's network) are set up and
// its process waits in the sandbox, not yet executed. Setting up the
// sandbox is most of a sandboxed cold start; with a spare, a start from
// zero only executes the function. A spare costs bubblewrap's and pasta's
// memory, not the function's, and counts nothing against the memory
// budget. The caller holds p.mu.
func (p *pool) keepSpare() {
	if p.t.users == nil || p.min > 0 || p.stopped || p.spare != nil || p.sparing || len(p.insts) > 0 || p.starting > 0 {
		return
	}
	p.sparing = true
	p.starts.Go(func() {
		in, err := p.t.launch(p.life, p.stage, p.fn, discardLogger{}, true)
		p.mu.Lock()
		p.sparing = false
		if err == nil && !p.stopped {
			p.spare = in
			in = nil
		}
		p.mu.Unlock()
		if err != nil {
			if p.life.Err() == nil {
				p.t.log.Info("a spare sandbox could not be prepared; the next start from zero sets one up", "app", p.stage.App, "stage", p.stage.Stage, "function", p.fn.Key(), "err", err)
			}
			return
		}
		if in != nil { // the pool stopped meanwhile
			in.stop(context.Background(), 0)
		}
	})
}

// idleInstances takes the instances to stop out of the pool: those idle
// for scale_down_after, least recently used first, as long as more than
// min remain.
func (p *pool) idleInstances() []*instance {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []*instance
	for len(p.insts) > p.min {
		var oldest *instance
		for _, in := range p.insts {
			if in.busy == 0 && time.Since(in.lastUsed) >= p.scaleDown && (oldest == nil || in.lastUsed.Before(oldest.lastUsed)) {
				oldest = in
			}
		}
		if oldest == nil {
			break
		}
		p.insts = deleteInstance(p.insts, oldest)
		// Its memory is free for others as it leaves the pool, before it
		// has stopped: a request arriving meanwhile must not find the
		// budget used by an instance on its way out.
		p.t.releaseMemory(p.fn.Memory)
		out = append(out, oldest)
	}
	if len(out) > 0 {
		p.notify()
		p.reportInstances(len(p.insts))
	}
	return out
}

// reportInstances tells the target's ScaleObserver how many instances
// run now. A pool being replaced by a deploy reports nothing: its
// successor speaks for the function.
func (p *pool) reportInstances(n int) {
	if obs := p.t.cfg.Scaling; obs != nil {
		obs.InstancesChanged(p.stage.App, p.stage.Stage, p.fn.Key(), n)
	}
}

func deleteInstance(list []*instance, in *instance) []*instance {
	for i, x := range list {
		if x == in {
			return append(list[:i:i], list[i+1:]...)
		}
	}
	return list
}

// instances returns the ready instances (a static function's one too).
func (p *pool) instances() []*instance {
	if p.static != nil {
		return []*instance{p.static}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]*instance(nil), p.insts...)
}

// first returns an instance of the pool, or nil: for tests that look at
// a function with one instance.
func (p *pool) first() *instance {
	if p == nil {
		return nil
	}
	if ins := p.instances(); len(ins) > 0 {
		return ins[0]
	}
	return nil
}

// stop drains the pool (waiting up to drain for the requests it admitted,
// those waiting for an instance too), then stops every instance and any
// start in progress. A cancelled ctx cuts the waits short. It reports
// how many requests were still in flight when draining gave up.
func (p *pool) stop(ctx context.Context, drain time.Duration) (abandoned int) {
	if p.static != nil {
		p.cancel()
		return p.static.stop(ctx, drain)
	}
	p.mu.Lock()
	if !p.draining {
		p.draining = true
		p.idle = make(chan struct{})
		if p.inflight == 0 {
			close(p.idle)
		}
	}
	idle := p.idle
	p.mu.Unlock()
	if drain > 0 {
		timer := time.NewTimer(drain)
		select {
		case <-idle:
		case <-timer.C:
		case <-ctx.Done():
		}
		timer.Stop()
	}
	p.mu.Lock()
	select {
	case <-idle:
	default:
		abandoned = p.inflight
	}
	p.stopped = true
	ins := p.insts
	p.insts = nil
	p.notify()
	p.mu.Unlock()
	p.cancel()
	<-p.reaped
	p.starts.Wait() // a start that won the race stops its own instance
	p.mu.Lock()
	spare := p.spare
	p.spare = nil
	p.mu.Unlock()
	var wg sync.WaitGroup
	if spare != nil { // reserves no memory
		wg.Go(func() { spare.stop(ctx, 0) })
	}
	for _, in := range ins {
		wg.Go(func() {
			in.stop(ctx, 0)
			p.t.releaseMemory(p.fn.Memory)
		})
	}
	wg.Wait()
	return abandoned
}

// reserveMemory counts mib (a function's memory) against the target's
// memory budget (Config.MemoryBudget); it refuses, unless forced, when
// the budget would be exceeded. Functions without a memory size count
// nothing.
func (t *Target) reserveMemory(mib int, force bool) bool {
	if mib <= 0 {
		return true
	}
	t.memMu.Lock()
	defer t.memMu.Unlock()
	if !force && t.cfg.MemoryBudget > 0 && t.memUsed+mib > t.cfg.MemoryBudget {
		return false
	}
	t.memUsed += mib
	return true
}

// releaseMemory returns what reserveMemory counted.
func (t *Target) releaseMemory(mib int) {
	if mib <= 0 {
		return
	}
	t.memMu.Lock()
	t.memUsed -= mib
	t.memMu.Unlock()
}
