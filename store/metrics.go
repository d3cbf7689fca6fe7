package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/seedbed/seedbed/migrations"
)

// MetricMinute is one function's requests during one minute, as the
// gateway counted them. Buckets holds the latency histogram of the minute:
// counts per bucket (not cumulative), comma-separated, in the bucket order
// of package metrics; minutes of one series add up bucket by bucket.
type MetricMinute struct {
	ID          uint
	Minute      time.Time
	App         string
	Stage       string
	Function    string
	Requests    int64
	Errors      int64
	ColdStarts  int64
	Restarts    int64
	DurationSum float64 // seconds
	Buckets     string
	InFlightMax int64
	MemoryBytes int64
	// InstancesMax is the most instances of the function that ran at
	// once in the minute (scaling; see targets/local's pool).
	InstancesMax int64
}

// RequestLog is one request the gateway answered, as the request log
// keeps it (sampled).
type RequestLog struct {
	ID         uint
	At         time.Time
	App        string
	Stage      string
	Function   string
	Instance   string
	Method     string
	Path       string
	Status     int
	DurationUS int64 `gorm:"column:duration_us"`
	Bytes      int64
	Client     string
}

// ErrorGroup is one kind of failure of one function: the occurrences that
// share a signature, with when it was first and last seen and the latest
// sample. A resolved group reopens when it occurs again.
type ErrorGroup struct {
	ID         uint
	App        string
	Stage      string
	Function   string
	Signature  string
	Kind       string // 5xx, crash, oom, timeout, handler_error
	ErrorType  string
	Message    string
	Sample     string
	Count      int64
	FirstSeen  time.Time
	LastSeen   time.Time
	ResolvedAt *time.Time
	ResolvedBy string
	Reopened   int64 // how many times it came back after being resolved
}

// ErrorOccurrence is n failures of one signature, as the collector
// gathered them since its last flush; RecordErrors folds them into their
// groups.
type ErrorOccurrence struct {
	App, Stage, Function string
	Signature            string
	Kind, ErrorType      string
	Message, Sample      string
	Count                int64
	First, Last          time.Time
}

// AddMetricMinutes writes rolled-up minutes in one batch.
func (s *Store) AddMetricMinutes(ctx context.Context, rows []MetricMinute) error {
	if len(rows) == 0 {
		return nil
	}
	if err := s.db.WithContext(ctx).CreateInBatches(rows, 200).Error; err != nil {
		return fmt.Errorf("write %d metric minutes: %w", len(rows), err)
	}
	return nil
}

// MetricMinutes reads the minutes of one stage since from, oldest first;
// function "" reads every function of the stage.
func (s *Store) MetricMinutes(ctx context.Context, app, stage, function string, from time.Time) ([]MetricMinute, error) {
	var rows []MetricMinute
	q := s.db.WithContext(ctx).Where("app = ? AND stage = ? AND minute >= ?", app, stage, from.UTC())
	if function != "" {
		q = q.Where("function = ?", function)
	}
	if err := q.Order("minute, id").Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("read metrics of %s/%s: %w", app, stage, err)
	}
	return rows, nil
}

// AddRequestLogs writes request log entries in one batch.
func (s *Store) AddRequestLogs(ctx context.Context, rows []RequestLog) error {
	if len(rows) == 0 {
		return nil
	}
	// One multi-row INSERT per chunk, without gorm's reflection over each
	// row: the writer runs beside a gateway under load, on the same CPUs.
	const cols = 11
	const chunk = 200 // 2,200 parameters, under every driver's limit
	for start := 0; start < len(rows); start += chunk {
		part := rows[start:min(start+chunk, len(rows))]
		var sb strings.Builder
		sb.WriteString("INSERT INTO request_logs (at, app, stage, function, instance, method, path, status, duration_us, bytes, client) VALUES ")
		args := make([]any, 0, len(part)*cols)
		for i, r := range part {
			if i > 0 {
				sb.WriteByte(',')
			}
			sb.WriteString("(?,?,?,?,?,?,?,?,?,?,?)")
			args = append(args, r.At.UTC(), r.App, r.Stage, r.Function, r.Instance, r.Method, r.Path, r.Status, r.DurationUS, r.Bytes, r.Client)
		}
		sqlDB, err := s.db.DB()
		if err != nil {
			return err
		}
		q := sb.String()
		if s.dialect == migrations.Postgres {
			q = dollarPlaceholders(q)
		}
		if _, err := sqlDB.ExecContext(ctx, q, args...); err != nil {
			return fmt.Errorf("write %d request log entries: %w", len(rows), err)
		}
	}
	return nil
}

// RequestLogQuery selects request log entries of one stage. Status is an
// exact status (404) or a class (5 for 5xx); 0 means any. Path matches as
// a prefix. BeforeID pages back: entries with a smaller id.
type RequestLogQuery struct {
	App, Stage string
	Function   string
	Status     int
	Path       string
	BeforeID   uint
	Limit      int
}

// RequestLogs finds request log entries, newest first.
func (s *Store) RequestLogs(ctx context.Context, q RequestLogQuery) ([]RequestLog, error) {
	if q.Limit <= 0 || q.Limit > 1000 {
		q.Limit = 100
	}
	db := s.db.WithContext(ctx).Where("app = ? AND stage = ?", q.App, q.Stage)
	if q.Function != "" {
		db = db.Where("function = ?", q.Function)
	}
	switch {
	case q.Status >= 1 && q.Status <= 5:
		db = db.Where("status >= ? AND status < ?", q.Status*100, q.Status*100+100)
	case q.Status > 0:
		db = db.Where("status = ?", q.Status)
	}
	if q.Path != "" {
		db = db.Where("path LIKE ? ESCAPE '\\'", likePrefix(q.Path))
	}
	if q.BeforeID > 0 {
		db = db.Where("id < ?", q.BeforeID)
	}
	var rows []RequestLog
	if err := db.Order("id DESC").Limit(q.Limit).Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("search the request log of %s/%s: %w", q.App, q.Stage, err)
	}
	return rows, nil
}

// likePrefix makes a LIKE pattern matching s as a prefix, with LIKE's
// wildcards in s taken literally.
func likePrefix(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return r.Replace(s) + "%"
}

// RecordErrors folds occurrences into their groups: a new signature makes
// a group; a known one counts up, moves its last-seen time and takes the
// newer sample; a resolved group seen again after it was resolved reopens.
func (s *Store) RecordErrors(ctx context.Context, occs []ErrorOccurrence) error {
	if len(occs) == 0 {
		return nil
	}
	err := s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		for _, o := range occs {
			var g ErrorGroup
			q := tx
			if s.dialect == migrations.Postgres { // SQLite has one writer
				q = q.Clauses(clause.Locking{Strength: "UPDATE"})
			}
			err := q.Where("app = ? AND stage = ? AND function = ? AND signature = ?", o.App, o.Stage, o.Function, o.Signature).
				Take(&g).Error
			if errors.Is(err, gorm.ErrRecordNotFound) {
				g = ErrorGroup{App: o.App, Stage: o.Stage, Function: o.Function, Signature: o.Signature, Kind: o.Kind,
					ErrorType: o.ErrorType, Message: o.Message, Sample: o.Sample, Count: o.Count, FirstSeen: o.First.UTC(), LastSeen: o.Last.UTC()}
				if err := tx.Create(&g).Error; err != nil {
					return err
				}
				continue
			}
			if err != nil {
				return err
			}
			upd := map[string]any{"count": g.Count + o.Count}
			if o.Last.After(g.LastSeen) {
				upd["last_seen"] = o.Last.UTC()
				upd["message"] = o.Message
				if o.Sample != "" {
					upd["sample"] = o.Sample
				}
			}
			if g.ResolvedAt != nil && o.Last.After(*g.ResolvedAt) {
				upd["resolved_at"] = nil
				upd["resolved_by"] = ""
				upd["reopened"] = g.Reopened + 1
			}
			if err := tx.Model(&ErrorGroup{}).Where("id = ?", g.ID).Updates(upd).Error; err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("record %d error groups: %w", len(occs), err)
	}
	return nil
}

// ErrorGroupQuery selects an app's error groups: of one stage and function
// when set, open ones only unless Resolved.
type ErrorGroupQuery struct {
	App, Stage, Function string
	Resolved             bool // include resolved groups
	Limit                int
}

// ErrorGroups lists error groups, most recently seen first.
func (s *Store) ErrorGroups(ctx context.Context, q ErrorGroupQuery) ([]ErrorGroup, error) {
	if q.Limit <= 0 || q.Limit > 500 {
		q.Limit = 100
	}
	db := s.db.WithContext(ctx).Where("app = ?", q.App)
	if q.Stage != "" {
		db = db.Where("stage = ?", q.Stage)
	}
	if q.Function != "" {
		db = db.Where("function = ?", q.Function)
	}
	if !q.Resolved {
		db = db.Where("resolved_at IS NULL")
	}
	var rows []ErrorGroup
	if err := db.Order("last_seen DESC, id DESC").Limit(q.Limit).Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("list error groups of %s: %w", q.App, err)
	}
	return rows, nil
}

// ErrorGroupByID finds one of app's error groups; another app's id is not
// found.
func (s *Store) ErrorGroupByID(ctx context.Context, app string, id uint) (ErrorGroup, error) {
	var g ErrorGroup
	err := s.db.WithContext(ctx).Where("app = ? AND id = ?", app, id).Take(&g).Error
	if err != nil {
		return g, notFound(err, "error group %d of app %q", id, app)
	}
	return g, nil
}

// ResolveErrorGroup marks one of app's groups resolved by who (resolved
// true) or open again (false).
func (s *Store) ResolveErrorGroup(ctx context.Context, app string, id uint, resolved bool, who string, at time.Time) (ErrorGroup, error) {
	upd := map[string]any{"resolved_at": nil, "resolved_by": ""}
	if resolved {
		upd = map[string]any{"resolved_at": at.UTC(), "resolved_by": who}
	}
	res := s.db.WithContext(ctx).Model(&ErrorGroup{}).Where("app = ? AND id = ?", app, id).Updates(upd)
	if res.Error != nil {
		return ErrorGroup{}, fmt.Errorf("resolve error group %d of app %q: %w", id, app, res.Error)
	}
	if res.RowsAffected == 0 {
		return ErrorGroup{}, fmt.Errorf("error group %d of app %q: %w", id, app, ErrNotFound)
	}
	return s.ErrorGroupByID(ctx, app, id)
}

// PruneObservations deletes metric minutes from before metricsBefore,
// request log entries from before logsBefore, and error groups last seen
// before groupsBefore, in bounded batches so a long backlog does not hold
// SQLite's writer for long. It reports how many rows went.
func (s *Store) PruneObservations(ctx context.Context, metricsBefore, logsBefore, groupsBefore time.Time) (int64, error) {
	var total int64
	for _, del := range []struct {
		table, column string
		before        time.Time
	}{
		{"metric_minutes", "minute", metricsBefore},
		{"request_logs", "at", logsBefore},
		{"error_groups", "last_seen", groupsBefore},
	} {
		if del.before.IsZero() {
			continue
		}
		for {
			res := s.db.WithContext(ctx).Exec("DELETE FROM "+del.table+" WHERE id IN (SELECT id FROM "+del.table+" WHERE "+del.column+" < ? LIMIT 5000)", del.before.UTC())
			if res.Error != nil {
				return total, fmt.Errorf("prune %s: %w", del.table, res.Error)
			}
			total += res.RowsAffected
			if res.RowsAffected < 5000 {
				break
			}
		}
	}
	return total, nil
}

// dollarPlaceholders turns ? placeholders into PostgreSQL's $1, $2, …; the
// query must hold no literal question mark.
func dollarPlaceholders(q string) string {
	var sb strings.Builder
	n := 0
	for i := 0; i < len(q); i++ {
		if q[i] == '?' {
			n++
			sb.WriteByte('$')
			sb.WriteString(strconv.Itoa(n))
			continue
		}
		sb.WriteByte(q[i])
	}
	return sb.String()
}
