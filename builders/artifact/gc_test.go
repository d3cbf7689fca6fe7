package artifact

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// put stores content and returns its digest, aged by age.
func put(t *testing.T, s *Store, content string, age time.Duration) string {
	t.Helper()
	d, _, err := s.Put(context.Background(), strings.NewReader(content))
	if err != nil {
		t.Fatal(err)
	}
	if age > 0 {
		h, _ := ParseDigest(d)
		old := time.Now().Add(-age)
		mustDo(t, os.Chtimes(s.path(h), old, old))
	}
	return d
}

func TestGC(t *testing.T) {
	const grace = time.Hour
	tests := []struct {
		name    string
		age     time.Duration
		kept    bool // by the keep function
		reput   bool // Put again before GC
		dryRun  bool
		survive bool
	}{
		{name: "old and unreferenced goes", age: 2 * grace, survive: false},
		{name: "old but referenced stays", age: 2 * grace, kept: true, survive: true},
		{name: "fresh and unreferenced stays (a build may be storing it)", age: grace / 2, survive: true},
		{name: "old, unreferenced, stored again just now stays", age: 2 * grace, reput: true, survive: true},
		{name: "a dry run removes nothing", age: 2 * grace, dryRun: true, survive: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := setup(t)
			d := put(t, s, "bytes of "+tt.name, tt.age)
			other := put(t, s, "unrelated and old", 2*grace)
			if tt.reput {
				put(t, s, "bytes of "+tt.name, 0)
			}
			res, err := s.GC(context.Background(), func(digest string) bool { return tt.kept && digest == d }, grace, tt.dryRun)
			if err != nil {
				t.Fatal(err)
			}
			if got := s.Has(d); got != tt.survive {
				t.Errorf("after GC, Has = %v, want %v", got, tt.survive)
			}
			if s.Has(other) != tt.dryRun {
				t.Errorf("an old unreferenced artifact: Has = %v after GC (dry run %v)", s.Has(other), tt.dryRun)
			}
			wantRemoved := 1
			if !tt.survive || tt.dryRun {
				wantRemoved = 2
			}
			if res.Removed != wantRemoved || len(res.Digests) != wantRemoved || res.Bytes <= 0 {
				t.Errorf("GC result %+v, want %d removed with their bytes", res, wantRemoved)
			}
		})
	}
}

// Leftovers: a Put killed halfway, a GC killed between moving an artifact
// aside and deleting it.
func TestGCLeftovers(t *testing.T) {
	s := setup(t)
	d := put(t, s, "needed", 2*time.Hour)
	h, _ := ParseDigest(d)
	aside := filepath.Join(s.dir, ".gc-"+h)
	mustDo(t, os.Rename(s.path(h), aside))
	tmp := filepath.Join(s.dir, ".put-123")
	mustDo(t, os.WriteFile(tmp, []byte("half"), 0o600))
	old := time.Now().Add(-2 * time.Hour)
	mustDo(t, os.Chtimes(tmp, old, old))
	if _, err := s.GC(context.Background(), func(string) bool { return true }, time.Hour, false); err != nil {
		t.Fatal(err)
	}
	if !s.Has(d) {
		t.Error("an artifact a killed GC left aside was not put back")
	}
	if _, err := os.Stat(tmp); !os.IsNotExist(err) {
		t.Errorf("an old half-written Put is still there: %v", err)
	}
}

// A build storing bytes the store holds, unreferenced and old, while GC
// runs: whenever Put says it stored them, they are there afterwards.
func TestGCBesidePut(t *testing.T) {
	s := setup(t)
	const content = "the same bytes, built again"
	for i := 0; i < 300; i++ {
		d := put(t, s, content, 2*time.Hour)
		var wg sync.WaitGroup
		var putErr error
		wg.Add(2)
		go func() {
			defer wg.Done()
			_, _, putErr = s.Put(context.Background(), strings.NewReader(content))
		}()
		go func() {
			defer wg.Done()
			if _, err := s.GC(context.Background(), func(string) bool { return false }, time.Hour, false); err != nil {
				t.Error(err)
			}
		}()
		wg.Wait()
		if putErr != nil {
			t.Fatal(putErr)
		}
		if !s.Has(d) {
			t.Fatalf("round %d: Put succeeded beside GC but the artifact is gone", i)
		}
	}
}
