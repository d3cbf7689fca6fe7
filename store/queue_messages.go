package store

import (
	"context"
	"fmt"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"
	"gorm.io/plugin/dbresolver"
)

// QueueMessage is one message of a stage's queue. The database is where a
// message lives from Send until its consumer succeeded on it (or it is
// purged), so that a restart, even of the in-process queue, loses none.
// Times are Unix milliseconds: they are compared in SQL on both databases.
type QueueMessage struct {
	ID       string `gorm:"primaryKey"`
	StageID  uint
	Queue    string
	Body     []byte
	Receives int
	SentMS   int64 `gorm:"column:sent_ms"`
	FirstMS  int64 `gorm:"column:first_ms"` // first received; 0 before
	// VisibleMS is when the message may be received (again).
	VisibleMS int64 `gorm:"column:visible_ms"`
	// Receipt names the receive that holds the message: set while a batch
	// runs it, cleared when the batch failed it.
	Receipt string
	Dead    bool
}

// QueueSlot is one of the concurrency slots of a queue's subscription; a
// batch runs only under a slot it holds, so no more than the
// subscription's concurrency run at once, in every process.
type QueueSlot struct {
	StageID uint   `gorm:"primaryKey;autoIncrement:false"`
	Queue   string `gorm:"primaryKey"`
	Slot    int    `gorm:"primaryKey;autoIncrement:false"`
	Holder  string
	UntilMS int64 `gorm:"column:until_ms"`
}

// QueueCounts sums up one queue.
type QueueCounts struct {
	Waiting  int   // not dead and not held by a running batch
	InFlight int   // held by a running batch
	Dead     int   // received max_receives times
	OldestMS int64 // when the oldest waiting message was sent; 0 without any
}

// CreateQueueMessage records a message sent to a queue; one recorded
// already gives ErrConflict.
func (s *Store) CreateQueueMessage(ctx context.Context, m *QueueMessage) error {
	if err := s.db.WithContext(ctx).Create(m).Error; err != nil {
		if isUniqueViolation(err) {
			return fmt.Errorf("record message %s of queue %s: %w", m.ID, m.Queue, ErrConflict)
		}
		return fmt.Errorf("record message of queue %s: %w", m.Queue, err)
	}
	return nil
}

// inFlight is the condition of a message a running batch holds.
const inFlight = "receipt <> '' AND visible_ms > ?"

// CountQueueMessages counts the messages of a queue at nowMS.
func (s *Store) CountQueueMessages(ctx context.Context, stageID uint, queue string, nowMS int64) (QueueCounts, error) {
	var row struct {
		Waiting, InFlight, Dead int
		Oldest                  *int64
	}
	err := s.db.WithContext(ctx).Clauses(dbresolver.Write).Model(&QueueMessage{}).
		Select("COALESCE(SUM(CASE WHEN NOT dead AND NOT ("+inFlight+") THEN 1 ELSE 0 END), 0) AS waiting, "+
			"COALESCE(SUM(CASE WHEN NOT dead AND "+inFlight+" THEN 1 ELSE 0 END), 0) AS in_flight, "+
			"COALESCE(SUM(CASE WHEN dead THEN 1 ELSE 0 END), 0) AS dead, "+
			"MIN(CASE WHEN NOT dead AND NOT ("+inFlight+") THEN sent_ms END) AS oldest", nowMS, nowMS, nowMS).
		Where("stage_id = ? AND queue = ?", stageID, queue).Scan(&row).Error
	if err != nil {
		return QueueCounts{}, fmt.Errorf("count the messages of queue %s: %w", queue, err)
	}
	c := QueueCounts{Waiting: row.Waiting, InFlight: row.InFlight, Dead: row.Dead}
	if row.Oldest != nil {
		c.OldestMS = *row.Oldest
	}
	return c, nil
}

// ReceiveQueueMessages hands up to limit visible messages of a queue to the
// receive named receipt, hidden until untilMS, their receive counts
// raised. Visible messages already received maxReceives times (their batch
// died with its process) go to the dead letters instead. Two receivers
// racing for the same rows each get distinct ones: the update re-checks
// visibility row by row.
func (s *Store) ReceiveQueueMessages(ctx context.Context, stageID uint, queue, receipt string, nowMS, untilMS int64, limit, maxReceives int) ([]QueueMessage, error) {
	return receiveQueueMessages(s.db.WithContext(ctx), stageID, queue, receipt, nowMS, untilMS, limit, maxReceives)
}

func receiveQueueMessages(db *gorm.DB, stageID uint, queue, receipt string, nowMS, untilMS int64, limit, maxReceives int) ([]QueueMessage, error) {
	ready := "stage_id = ? AND queue = ? AND NOT dead AND visible_ms <= ?"
	if err := db.Model(&QueueMessage{}).Where(ready+" AND receives >= ?", stageID, queue, nowMS, maxReceives).
		Updates(map[string]any{"dead": true, "receipt": ""}).Error; err != nil {
		return nil, fmt.Errorf("move spent messages of queue %s to the dead letters: %w", queue, err)
	}
	pick := db.Model(&QueueMessage{}).Select("id").Where(ready, stageID, queue, nowMS).Order("visible_ms, sent_ms").Limit(limit)
	res := db.Model(&QueueMessage{}).Where("id IN (?) AND NOT dead AND visible_ms <= ?", pick, nowMS).
		Updates(map[string]any{"receipt": receipt, "visible_ms": untilMS, "receives": gorm.Expr("receives + 1"),
			"first_ms": gorm.Expr("CASE WHEN first_ms = 0 THEN ? ELSE first_ms END", nowMS)})
	if res.Error != nil {
		return nil, fmt.Errorf("receive messages of queue %s: %w", queue, res.Error)
	}
	if res.RowsAffected == 0 {
		return nil, nil
	}
	var out []QueueMessage
	if err := db.Clauses(dbresolver.Write).Where("receipt = ?", receipt).Order("sent_ms").Find(&out).Error; err != nil {
		return nil, fmt.Errorf("read received messages of queue %s: %w", queue, err)
	}
	return out, nil
}

// DeleteQueueMessages removes messages a receive still holds: its
// consumer succeeded on them.
func (s *Store) DeleteQueueMessages(ctx context.Context, receipt string, ids []string) error {
	if len(ids) == 0 {
		return nil
	}
	if err := s.db.WithContext(ctx).Where("receipt = ? AND id IN ?", receipt, ids).Delete(&QueueMessage{}).Error; err != nil {
		return fmt.Errorf("delete received messages: %w", err)
	}
	return nil
}

// FailQueueMessages lets go of messages a receive holds and its consumer
// failed: they stay hidden until their visibility timeout ends (dead
// moves them to the dead letters at once instead).
func (s *Store) FailQueueMessages(ctx context.Context, receipt string, ids []string, dead bool) error {
	if len(ids) == 0 {
		return nil
	}
	if err := s.db.WithContext(ctx).Model(&QueueMessage{}).Where("receipt = ? AND id IN ?", receipt, ids).
		Updates(map[string]any{"receipt": "", "dead": dead}).Error; err != nil {
		return fmt.Errorf("let go of failed messages: %w", err)
	}
	return nil
}

// ReturnQueueMessages makes the messages a receive holds visible at once,
// as if never received: nothing ran them.
func (s *Store) ReturnQueueMessages(ctx context.Context, receipt string, nowMS int64) error {
	if err := s.db.WithContext(ctx).Model(&QueueMessage{}).Where("receipt = ?", receipt).
		Updates(map[string]any{"receipt": "", "visible_ms": nowMS, "receives": gorm.Expr("receives - 1")}).Error; err != nil {
		return fmt.Errorf("return received messages: %w", err)
	}
	return nil
}

// DeadQueueMessages lists up to limit dead letters of a queue, oldest
// first.
func (s *Store) DeadQueueMessages(ctx context.Context, stageID uint, queue string, limit int) ([]QueueMessage, error) {
	var out []QueueMessage
	err := s.db.WithContext(ctx).Clauses(dbresolver.Write).Where("stage_id = ? AND queue = ? AND dead", stageID, queue).Order("sent_ms").Limit(limit).Find(&out).Error
	if err != nil {
		return nil, fmt.Errorf("list the dead letters of queue %s: %w", queue, err)
	}
	return out, nil
}

// RedriveQueueMessages puts a queue's dead letters back, visible at nowMS
// with their receive counts at zero, and returns how many.
func (s *Store) RedriveQueueMessages(ctx context.Context, stageID uint, queue string, nowMS int64) (int, error) {
	res := s.db.WithContext(ctx).Model(&QueueMessage{}).Where("stage_id = ? AND queue = ? AND dead", stageID, queue).
		Updates(map[string]any{"dead": false, "receives": 0, "first_ms": 0, "visible_ms": nowMS, "receipt": ""})
	if res.Error != nil {
		return 0, fmt.Errorf("redrive the dead letters of queue %s: %w", queue, res.Error)
	}
	return int(res.RowsAffected), nil
}

// PurgeQueueMessages deletes the messages of a queue that are neither dead
// nor held by a running batch, and returns how many.
func (s *Store) PurgeQueueMessages(ctx context.Context, stageID uint, queue string, nowMS int64) (int, error) {
	res := s.db.WithContext(ctx).Where("stage_id = ? AND queue = ? AND NOT dead AND NOT ("+inFlight+")", stageID, queue, nowMS).Delete(&QueueMessage{})
	if res.Error != nil {
		return 0, fmt.Errorf("purge queue %s: %w", queue, res.Error)
	}
	return int(res.RowsAffected), nil
}

// QueueRef names one queue of a stage.
type QueueRef struct {
	StageID uint
	Queue   string
}

// ReadyQueues lists the queues holding a message visible at nowMS.
func (s *Store) ReadyQueues(ctx context.Context, nowMS int64) ([]QueueRef, error) {
	var out []QueueRef
	err := s.db.WithContext(ctx).Clauses(dbresolver.Write).Model(&QueueMessage{}).Distinct("stage_id", "queue").
		Where("NOT dead AND visible_ms <= ?", nowMS).Scan(&out).Error
	if err != nil {
		return nil, fmt.Errorf("list queues with messages: %w", err)
	}
	return out, nil
}

// ClaimQueueSlot leases one of the first n slots of a queue to holder
// until untilMS, if one is free (or its holder's lease ran out), and
// reports whether it got one.
func (s *Store) ClaimQueueSlot(ctx context.Context, stageID uint, queue string, n int, holder string, nowMS, untilMS int64) (bool, error) {
	return claimQueueSlot(s.db.WithContext(ctx), stageID, queue, n, holder, nowMS, untilMS)
}

func claimQueueSlot(db *gorm.DB, stageID uint, queue string, n int, holder string, nowMS, untilMS int64) (bool, error) {
	free := "stage_id = ? AND queue = ? AND slot < ? AND (holder = '' OR until_ms < ?)"
	for range 3 {
		pick := db.Model(&QueueSlot{}).Select("slot").Where(free, stageID, queue, n, nowMS).Order("slot").Limit(1)
		res := db.Model(&QueueSlot{}).Where("stage_id = ? AND queue = ? AND slot = (?) AND (holder = '' OR until_ms < ?)", stageID, queue, pick, nowMS).
			Updates(map[string]any{"holder": holder, "until_ms": untilMS})
		if res.Error != nil {
			return false, fmt.Errorf("claim a slot of queue %s: %w", queue, res.Error)
		}
		if res.RowsAffected == 1 {
			return true, nil
		}
		var total, open int64
		if err := db.Clauses(dbresolver.Write).Model(&QueueSlot{}).Where("stage_id = ? AND queue = ? AND slot < ?", stageID, queue, n).Count(&total).Error; err != nil {
			return false, fmt.Errorf("count the slots of queue %s: %w", queue, err)
		}
		if total < int64(n) {
			// First use of the queue, or its concurrency grew.
			slots := make([]QueueSlot, n)
			for i := range slots {
				slots[i] = QueueSlot{StageID: stageID, Queue: queue, Slot: i}
			}
			if err := db.Clauses(clause.OnConflict{DoNothing: true}).Create(&slots).Error; err != nil {
				return false, fmt.Errorf("make the slots of queue %s: %w", queue, err)
			}
			continue
		}
		if err := db.Clauses(dbresolver.Write).Model(&QueueSlot{}).Where(free, stageID, queue, n, nowMS).Count(&open).Error; err != nil {
			return false, fmt.Errorf("count the free slots of queue %s: %w", queue, err)
		}
		if open == 0 {
			return false, nil
		}
		// Another process took the slot this one picked: pick again.
	}
	return false, nil
}

// ExtendQueueSlot moves the end of holder's lease to untilMS; it reports
// false when holder lost its slot (its lease ran out and another took it).
func (s *Store) ExtendQueueSlot(ctx context.Context, holder string, untilMS int64) (bool, error) {
	return extendQueueSlot(s.db.WithContext(ctx), holder, untilMS)
}

func extendQueueSlot(db *gorm.DB, holder string, untilMS int64) (bool, error) {
	res := db.Model(&QueueSlot{}).Where("holder = ?", holder).Update("until_ms", untilMS)
	if res.Error != nil {
		return false, fmt.Errorf("extend a queue slot: %w", res.Error)
	}
	return res.RowsAffected > 0, nil
}

// ReleaseQueueSlot frees the slot holder leased.
func (s *Store) ReleaseQueueSlot(ctx context.Context, holder string) error {
	return releaseQueueSlot(s.db.WithContext(ctx), holder)
}

func releaseQueueSlot(db *gorm.DB, holder string) error {
	if err := db.Model(&QueueSlot{}).Where("holder = ?", holder).
		Updates(map[string]any{"holder": "", "until_ms": 0}).Error; err != nil {
		return fmt.Errorf("release a queue slot: %w", err)
	}
	return nil
}

// QueueTake is one turn of a consumer: the slot it holds or claims and
// the batch it receives under it.
type QueueTake struct {
	StageID uint
	Queue   string
	// Slots is the subscription's concurrency; Claim says whether Holder
	// claims one of them (its first turn) or renews the one it holds.
	Slots   int
	Holder  string
	Claim   bool
	NowMS   int64
	SlotMS  int64 // the slot's lease ends then
	Receipt string
	// VisibleMS is when the received messages become visible again.
	VisibleMS   int64
	Limit       int
	MaxReceives int
}

// TakeQueueBatch claims (or renews) a concurrency slot and receives a batch
// under it, in one transaction: one commit where a consumer would
// otherwise make two. With nothing to receive the slot is let go in the
// same transaction. held is false when no slot was free (or the holder
// lost its own).
func (s *Store) TakeQueueBatch(ctx context.Context, t QueueTake) (msgs []QueueMessage, held bool, err error) {
	err = s.db.WithContext(ctx).Transaction(func(tx *gorm.DB) error {
		var err error
		if t.Claim {
			held, err = claimQueueSlot(tx, t.StageID, t.Queue, t.Slots, t.Holder, t.NowMS, t.SlotMS)
		} else {
			held, err = extendQueueSlot(tx, t.Holder, t.SlotMS)
		}
		if err != nil || !held {
			return err
		}
		msgs, err = receiveQueueMessages(tx, t.StageID, t.Queue, t.Receipt, t.NowMS, t.VisibleMS, t.Limit, t.MaxReceives)
		if err != nil || len(msgs) > 0 {
			return err
		}
		return releaseQueueSlot(tx, t.Holder)
	})
	if err != nil {
		return nil, false, err
	}
	return msgs, held, nil
}
