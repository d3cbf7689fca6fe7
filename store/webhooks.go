package store

import (
	"context"
	"fmt"
)

// RecordDelivery stores a webhook delivery. A delivery id seen before for
// the same app and forge (and not rejected then) gives ErrConflict: a replay;
// so does a push key another delivery of the app holds.
func (s *Store) RecordDelivery(ctx context.Context, d *WebhookDelivery) error {
	if err := s.db.WithContext(ctx).Create(d).Error; err != nil {
		if isUniqueViolation(err) {
			return fmt.Errorf("delivery %s: %w", d.DeliveryID, ErrConflict)
		}
		return fmt.Errorf("record delivery %s: %w", d.DeliveryID, err)
	}
	return nil
}

// DeliveryByPushKey finds the delivery of an app that holds a push key
// (see WebhookDelivery.PushKey); ErrNotFound if none does.
func (s *Store) DeliveryByPushKey(ctx context.Context, appID uint, key string) (WebhookDelivery, error) {
	var d WebhookDelivery
	if err := s.db.WithContext(ctx).Where("app_id = ? AND push_key = ?", appID, key).Take(&d).Error; err != nil {
		return d, notFound(err, "delivery of push %q", key)
	}
	return d, nil
}

// SaveDelivery writes every field of a recorded delivery.
func (s *Store) SaveDelivery(ctx context.Context, d *WebhookDelivery) error {
	if err := s.db.WithContext(ctx).Save(d).Error; err != nil {
		return fmt.Errorf("save delivery %d: %w", d.ID, err)
	}
	return nil
}

// Deliveries lists an app's webhook deliveries, newest first.
func (s *Store) Deliveries(ctx context.Context, appID uint, limit int) ([]WebhookDelivery, error) {
	var ds []WebhookDelivery
	if err := s.db.WithContext(ctx).Where("app_id = ?", appID).Order("id DESC").Limit(limit).Find(&ds).Error; err != nil {
		return nil, fmt.Errorf("list deliveries of app %d: %w", appID, err)
	}
	return ds, nil
}
