package store

import (
	"context"
	"database/sql"
)

// query runs a hand-written read on the read connections and leaves the
// scanning to the caller. It is for the reads every console view makes,
// where gorm's reflection over whole models costs more than the query. q
// is sent as written, so it takes no arguments: placeholders differ
// between the dialects.
func (s *Store) query(ctx context.Context, q string) (*sql.Rows, error) {
	return s.reads.QueryContext(ctx, q)
}
