package metrics

import (
	"testing"
	"time"
)

func TestQuantile(t *testing.T) {
	tests := []struct {
		name   string
		obs    map[time.Duration]int64
		q      float64
		lo, hi time.Duration
	}{
		{"empty", nil, 0.95, 0, 0},
		{"all in one bucket", map[time.Duration]int64{3 * time.Millisecond: 100}, 0.5, 2500 * time.Microsecond, 5 * time.Millisecond},
		{"tail", map[time.Duration]int64{time.Millisecond: 94, 2 * time.Second: 6}, 0.95, 1500 * time.Millisecond, 2500 * time.Millisecond},
		{"median of the fast ones", map[time.Duration]int64{time.Millisecond: 94, 2 * time.Second: 6}, 0.5, 0, time.Millisecond},
		{"past the last bound", map[time.Duration]int64{5 * time.Minute: 3}, 0.99, time.Minute, time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var h histogram
			for d, n := range tt.obs {
				for range n {
					h.observe(d)
				}
			}
			var b Buckets
			for i := range b {
				b[i] = h.counts[i].Load()
			}
			if got := b.Quantile(tt.q); got < tt.lo || got > tt.hi {
				t.Errorf("q%.2f = %v, want within %v–%v", tt.q, got, tt.lo, tt.hi)
			}
		})
	}
}

func TestBucketOf(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want int
	}{
		{0, 0},
		{time.Millisecond, 0},
		{time.Millisecond + 1, 1},
		{time.Minute, nBuckets - 1},
		{time.Minute + 1, nBuckets},
	}
	for _, tt := range tests {
		if got := bucketOf(tt.d); got != tt.want {
			t.Errorf("bucketOf(%v) = %d, want %d", tt.d, got, tt.want)
		}
	}
}
