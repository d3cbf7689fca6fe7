package builders

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/seedbed/seedbed/testutil"
)

func TestChangedPaths(t *testing.T) {
	repo := testutil.NewRepo(t)
	first := repo.Commit("first", map[string]string{"a/x.txt": "1", "b/y.txt": "1", "seedbed.yml": "v1"})
	repo.Git("mv", "b/y.txt", "b/z.txt")
	second := repo.Commit("second", map[string]string{"a/x.txt": "2"})
	ctx := context.Background()

	tests := []struct {
		name     string
		from, to string
		want     []string
		wantErr  error
	}{
		{name: "changed and renamed", from: first, to: second, want: []string{"a/x.txt", "b/y.txt", "b/z.txt"}},
		{name: "same commit", from: second, to: second, want: nil},
		{name: "missing commit", from: "0123456789012345678901234567890123456789", to: second, wantErr: ErrNoCommit},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ChangedPaths(ctx, repo.Dir, tc.from, tc.to)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tc.want) {
				t.Errorf("ChangedPaths = %v, want %v", got, tc.want)
			}
		})
	}
	if b, err := FileAt(repo.Dir, first, "seedbed.yml"); err != nil || string(b) != "v1" {
		t.Errorf("FileAt = %q, %v; want v1", b, err)
	}
	if got := BranchOf(repo.Dir, "main", second); got != "main" {
		t.Errorf("BranchOf(main) = %q, want main", got)
	}
}
