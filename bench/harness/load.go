package harness

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// LoadResult is what a load run measured.
type LoadResult struct {
	OK, Failed int
	Elapsed    time.Duration
	Latencies  []time.Duration // of successful requests
	FirstErr   error
	// Late counts requests a fixed-rate run started more than 10 ms after
	// their slot (the generator itself could not keep up).
	Late int
}

// RPS is successful requests per second.
func (r LoadResult) RPS() float64 { return float64(r.OK) / r.Elapsed.Seconds() }

// Closed runs workers that each call fn back to back until dur passes or
// max calls were made in all (a closed loop: as fast as the server answers).
func Closed(ctx context.Context, workers int, dur time.Duration, max int, fn func(context.Context) error) LoadResult {
	var mu sync.Mutex
	var res LoadResult
	var n atomic.Int64
	deadline := time.Now().Add(dur)
	start := time.Now()
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lat := make([]time.Duration, 0, 1<<14)
			ok, failed := 0, 0
			var first error
			for time.Now().Before(deadline) && n.Add(1) <= int64(max) && ctx.Err() == nil {
				t := time.Now()
				err := fn(ctx)
				if err != nil {
					failed++
					if first == nil {
						first = err
					}
					continue
				}
				ok++
				lat = append(lat, time.Since(t))
			}
			mu.Lock()
			res.OK += ok
			res.Failed += failed
			res.Latencies = append(res.Latencies, lat...)
			if res.FirstErr == nil {
				res.FirstErr = first
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	res.Elapsed = time.Since(start)
	return res
}

// Rate starts fn at a fixed rate (an open loop, like wrk2) for dur, with
// at most maxInFlight calls at once; latency counts from the scheduled
// start, so a server that falls behind shows it.
func Rate(ctx context.Context, rps int, dur time.Duration, maxInFlight int, fn func(context.Context) error) LoadResult {
	var mu sync.Mutex
	var res LoadResult
	total := int(float64(rps) * dur.Seconds())
	gap := time.Second / time.Duration(rps)
	sem := make(chan struct{}, maxInFlight)
	var wg sync.WaitGroup
	start := time.Now()
	for i := 0; i < total && ctx.Err() == nil; i++ {
		slot := start.Add(time.Duration(i) * gap)
		if d := time.Until(slot); d > 0 {
			time.Sleep(d)
		}
		sem <- struct{}{}
		late := time.Since(slot) > 10*time.Millisecond
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			err := fn(ctx)
			d := time.Since(slot)
			mu.Lock()
			defer mu.Unlock()
			if late {
				res.Late++
			}
			if err != nil {
				res.Failed++
				if res.FirstErr == nil {
					res.FirstErr = err
				}
				return
			}
			res.OK++
			res.Latencies = append(res.Latencies, d)
		}()
	}
	wg.Wait()
	res.Elapsed = time.Since(start)
	return res
}
