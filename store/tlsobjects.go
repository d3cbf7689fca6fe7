package store

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm/clause"
)

// TLSObject is one value of the certificate storage: a certificate, a
// private key, an ACME account, kept under a slash-separated key. The
// database holds them so that every Seedbed process serves the same
// certificates and obtains each once (see package domains).
type TLSObject struct {
	Key        string `gorm:"primaryKey"`
	Value      []byte
	ModifiedAt time.Time
}

// TableName is the table TLS objects live in.
func (TLSObject) TableName() string { return "tls_objects" }

// TLSObjectInfo is a key with its size and when it was written.
type TLSObjectInfo struct {
	Key        string
	Size       int64
	ModifiedAt time.Time
}

// PutTLSObject creates or replaces the value at key.
func (s *Store) PutTLSObject(ctx context.Context, key string, value []byte) error {
	o := TLSObject{Key: key, Value: value, ModifiedAt: time.Now().UTC()}
	err := s.db.WithContext(ctx).Clauses(clause.OnConflict{
		Columns:   []clause.Column{{Name: "key"}},
		DoUpdates: clause.AssignmentColumns([]string{"value", "modified_at"}),
	}).Create(&o).Error
	if err != nil {
		return fmt.Errorf("store TLS object %s: %w", key, err)
	}
	return nil
}

// GetTLSObject reads the value at key.
func (s *Store) GetTLSObject(ctx context.Context, key string) (TLSObject, error) {
	var o TLSObject
	if err := s.db.WithContext(ctx).Where("key = ?", key).Take(&o).Error; err != nil {
		return o, notFound(err, "TLS object %s", key)
	}
	return o, nil
}

// TLSObjectsUnder lists the keys that are key itself or lie under it
// (key/…), with their sizes; an empty key lists every one.
func (s *Store) TLSObjectsUnder(ctx context.Context, key string) ([]TLSObjectInfo, error) {
	q := s.db.WithContext(ctx).Model(&TLSObject{}).Select("key, length(value) AS size, modified_at")
	if key != "" {
		// Keys under key sort between key+"/" and key+"0" ('0' follows
		// '/'), by bytes: SQLite's BINARY collation, and the column's
		// "C" collation on PostgreSQL. No LIKE: keys hold '_'.
		q = q.Where("key = ? OR (key > ? AND key < ?)", key, key+"/", key+"0")
	}
	var out []TLSObjectInfo
	if err := q.Order("key").Scan(&out).Error; err != nil {
		return nil, fmt.Errorf("list TLS objects under %s: %w", key, err)
	}
	return out, nil
}

// DeleteTLSObjects removes the value at key and every one under it.
func (s *Store) DeleteTLSObjects(ctx context.Context, key string) error {
	err := s.db.WithContext(ctx).Where("key = ? OR (key > ? AND key < ?)", key, key+"/", key+"0").Delete(&TLSObject{}).Error
	if err != nil {
		return fmt.Errorf("delete TLS objects under %s: %w", key, err)
	}
	return nil
}

// tlsLock is a row of tls_locks.
type tlsLock struct {
	Name      string `gorm:"primaryKey"`
	Owner     string
	ExpiresAt time.Time
}

func (tlsLock) TableName() string { return "tls_locks" }

// TryLockTLS takes the lock called name for owner until ttl from now, if
// nobody holds it or its holder let it expire; it tells whether owner got
// it. An owner holding the lock does not get it twice: owners are
// processes, and two of a process's goroutines must exclude each other.
func (s *Store) TryLockTLS(ctx context.Context, name, owner string, ttl time.Duration) (bool, error) {
	db := s.db.WithContext(ctx)
	now := time.Now().UTC()
	res := db.Clauses(clause.OnConflict{DoNothing: true}).Create(&tlsLock{Name: name, Owner: owner, ExpiresAt: now.Add(ttl)})
	if res.Error != nil {
		return false, fmt.Errorf("lock %s: %w", name, res.Error)
	}
	if res.RowsAffected == 1 {
		return true, nil
	}
	res = db.Model(&tlsLock{}).Where("name = ? AND expires_at < ?", name, now).
		Updates(map[string]any{"owner": owner, "expires_at": now.Add(ttl)})
	if res.Error != nil {
		return false, fmt.Errorf("lock %s: %w", name, res.Error)
	}
	return res.RowsAffected == 1, nil
}

// ExtendTLSLock moves the expiry of a lock owner holds to ttl from now; it
// tells whether owner still held it.
func (s *Store) ExtendTLSLock(ctx context.Context, name, owner string, ttl time.Duration) (bool, error) {
	res := s.db.WithContext(ctx).Model(&tlsLock{}).Where("name = ? AND owner = ?", name, owner).
		Update("expires_at", time.Now().UTC().Add(ttl))
	if res.Error != nil {
		return false, fmt.Errorf("extend lock %s: %w", name, res.Error)
	}
	return res.RowsAffected == 1, nil
}

// UnlockTLS lets go of the lock called name if owner holds it.
func (s *Store) UnlockTLS(ctx context.Context, name, owner string) error {
	if err := s.db.WithContext(ctx).Where("name = ? AND owner = ?", name, owner).Delete(&tlsLock{}).Error; err != nil {
		return fmt.Errorf("unlock %s: %w", name, err)
	}
	return nil
}
