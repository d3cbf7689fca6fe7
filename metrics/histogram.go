package metrics

import (
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// bucketBounds are the upper bounds of the latency histogram, in seconds:
// fine where functions usually answer (1 ms to 1 s) so a p95 read from
// them is close, coarse past it. Prometheus gets the same buckets. Read
// only; never written.
var bucketBounds = [...]float64{
	0.001, 0.0025, 0.005, 0.01, 0.02, 0.035, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75,
	1, 1.5, 2.5, 5, 10, 30, 60,
}

// nBuckets counts the finite buckets; the histogram has one more (+Inf).
const nBuckets = len(bucketBounds)

// bucketNanos are bucketBounds as durations, for a quick search.
var bucketNanos = func() (b [nBuckets]int64) {
	for i, s := range bucketBounds {
		b[i] = int64(s * float64(time.Second))
	}
	return b
}()

// bucketOf finds the bucket a duration falls in: the first whose bound it
// does not exceed, or nBuckets (+Inf).
func bucketOf(d time.Duration) int {
	return sort.Search(nBuckets, func(i int) bool { return int64(d) <= bucketNanos[i] })
}

// histogram counts durations per bucket, concurrently.
type histogram struct {
	counts [nBuckets + 1]atomic.Int64
	sum    atomic.Int64 // nanoseconds
}

func (h *histogram) observe(d time.Duration) {
	h.counts[bucketOf(d)].Add(1)
	h.sum.Add(int64(d))
}

// Buckets is a latency histogram: counts per bucket (not cumulative),
// the last one past every bound.
type Buckets [nBuckets + 1]int64

// Add adds o's counts to b.
func (b *Buckets) Add(o Buckets) {
	for i := range b {
		b[i] += o[i]
	}
}

// Total is the number of durations counted.
func (b Buckets) Total() int64 {
	var n int64
	for _, c := range b {
		n += c
	}
	return n
}

// Quantile estimates the q-quantile (0.95 for p95) the way Prometheus'
// histogram_quantile does: linear within the bucket the rank falls in.
// Past the last bound it answers that bound. An empty histogram gives 0.
func (b Buckets) Quantile(q float64) time.Duration {
	total := b.Total()
	if total == 0 {
		return 0
	}
	rank := q * float64(total)
	var seen float64
	for i, c := range b {
		if c == 0 {
			continue
		}
		if seen+float64(c) >= rank {
			if i == nBuckets {
				return secs(bucketBounds[nBuckets-1])
			}
			lower := 0.0
			if i > 0 {
				lower = bucketBounds[i-1]
			}
			frac := (rank - seen) / float64(c)
			return secs(lower + (bucketBounds[i]-lower)*frac)
		}
		seen += float64(c)
	}
	return secs(bucketBounds[nBuckets-1])
}

func secs(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// String encodes the counts as the database keeps them: comma-separated,
// trailing zero buckets left out.
func (b Buckets) String() string {
	last := -1
	for i, c := range b {
		if c != 0 {
			last = i
		}
	}
	var sb strings.Builder
	for i := 0; i <= last; i++ {
		if i > 0 {
			sb.WriteByte(',')
		}
		sb.WriteString(strconv.FormatInt(b[i], 10))
	}
	return sb.String()
}

// ParseBuckets reads what String wrote. Counts past the known buckets
// (from a build with more of them) go to the last one.
func ParseBuckets(s string) (Buckets, error) {
	var b Buckets
	if s == "" {
		return b, nil
	}
	for i, f := range strings.Split(s, ",") {
		n, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return b, err
		}
		b[min(i, nBuckets)] += n
	}
	return b, nil
}
